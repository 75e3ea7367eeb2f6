// The one message an httpd child may send the privileged helper: "ban this offender
// key for this long". Fixed size, versioned, and checked field by field on arrival,
// because the sender is the part of httpd an attacker talks to.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "xmlrpcguard/address.hpp"

namespace xmlrpcguard {

struct BanRequest {
    Address key;              // IPv4, or an IPv6 network already masked to `prefix`
    std::uint8_t prefix = 0;  // 32 for IPv4; the IPv6 prefix length otherwise
    std::uint32_t seconds = 0;

    friend bool operator==(const BanRequest&, const BanRequest&) = default;
};

// No IPv6 ban is wider than this, whoever asks: a /32 is a whole provider's allocation.
inline constexpr unsigned kMinIPv6BanPrefix = 32;

inline constexpr std::size_t kBanMessageSize = 32;
using BanMessage = std::array<std::byte, kBanMessageSize>;

BanMessage encode(const BanRequest& request) noexcept;

// nullopt unless the bytes are exactly one well-formed message: size, magic, version,
// zero padding, a prefix that fits the family, an address with no bits past the
// prefix, and a duration of at least one second.
std::optional<BanRequest> decode(std::span<const std::byte> bytes) noexcept;

}  // namespace xmlrpcguard
