// The second message an httpd child may send the privileged helper, when the server
// is one node of a fleet (XmlRpcGuardCluster): "this offender key committed N
// offences under this rule". The helper batches them to Redis, where the fleet's
// shared sliding window lives. Fixed size, versioned and checked field by field,
// like the ban message: the sender is the part of httpd an attacker talks to.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

struct OffenceReport {
    Address key;              // IPv4, or an IPv6 network already masked to `prefix`
    std::uint8_t prefix = 0;  // 32 for IPv4; the IPv6 prefix length otherwise
    std::uint8_t count = 0;   // offences of this answer, capped at kMaxRetryLimit
    WindowRule rule;          // the vhost's findtime and maxretry
    std::uint32_t bantime = 0;
    BanReason reason = BanReason::AuthFailure;

    friend bool operator==(const OffenceReport& a, const OffenceReport& b) noexcept {
        return a.key == b.key && a.prefix == b.prefix && a.count == b.count &&
               a.rule.findtime == b.rule.findtime && a.rule.maxretry == b.rule.maxretry &&
               a.bantime == b.bantime && a.reason == b.reason;
    }
};

inline constexpr std::size_t kOffenceMessageSize = 40;
using OffenceMessage = std::array<std::byte, kOffenceMessageSize>;

// A count above maxretry's largest value decides nothing more: it is capped there.
OffenceReport offence_report(const Address& key, unsigned ipv6_prefix, std::uint64_t count,
                             WindowRule rule, std::uint32_t bantime, BanReason reason) noexcept;

OffenceMessage encode(const OffenceReport& report) noexcept;

// nullopt unless the bytes are exactly one well-formed offence message: size, magic,
// version, zero padding, a prefix that fits the family (IPv6 at least /32), no bits
// past it, a count and maxretry of 1..kMaxRetryLimit, a findtime of 1 s..10 years, a
// bantime of 1 s..kMaxBanSeconds, a known reason other than None and Manual.
std::optional<OffenceReport> decode_offence(std::span<const std::byte> bytes) noexcept;

// The first bytes of an offence message: lets the helper route a datagram.
bool looks_like_offence(std::span<const std::byte> bytes) noexcept;

}  // namespace xmlrpcguard
