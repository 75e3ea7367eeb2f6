// The child -> helper message for a prefix ban: "ban this network for this long". The
// same 32 bytes as a BanRequest's message, with its own magic ("XRGN"), so the helper
// tells the two apart by the first four bytes and judges each by its own rules. An IPv4
// prefix counts IPv4 bits; no prefix is wider than a /16 (IPv4) or a /32 (IPv6), nor
// a single address.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "xmlrpcguard/address_set.hpp"
#include "xmlrpcguard/ban_request.hpp"

namespace xmlrpcguard {

inline constexpr unsigned kMinIPv4PrefixBan = 16;
inline constexpr unsigned kMinIPv6PrefixBan = kMinIPv6BanPrefix;

struct PrefixBanRequest {
    Cidr prefix;
    std::uint32_t seconds = 0;
};

BanMessage encode_prefix(const PrefixBanRequest& request) noexcept;

// True when the bytes start with the prefix message's magic (whatever follows).
bool is_prefix_message(std::span<const std::byte> bytes) noexcept;

// nullopt unless exactly one well-formed prefix message: size, magic, version, zero
// padding, a length within the family's floor and below a single address, no bits
// past it, a duration of at least one second.
std::optional<PrefixBanRequest> decode_prefix(std::span<const std::byte> bytes) noexcept;

}  // namespace xmlrpcguard
