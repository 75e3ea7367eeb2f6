// A client address as the guard counts it: 16 bytes, IPv4 held as IPv4-mapped IPv6
// (::ffff:a.b.c.d), so one table and one comparison serve both families.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace xmlrpcguard {

struct Address {
    std::array<std::uint8_t, 16> bytes{};

    // Accepts dotted IPv4 ("198.18.1.10") and any textual IPv6 form, including
    // IPv4-mapped ("::ffff:198.18.1.10"). No surrounding brackets, no zone id.
    static std::optional<Address> parse(std::string_view text) noexcept;
    static Address from_ipv4(std::uint32_t host_order) noexcept;

    bool is_ipv4() const noexcept;
    bool is_loopback() const noexcept;

    // The address with all bits past `prefix` cleared. For an IPv4 address the
    // prefix counts IPv4 bits (0..32); for IPv6, IPv6 bits (0..128).
    Address masked(unsigned prefix) const noexcept;

    // The identity the guard counts and bans: IPv4 as is, IPv6 masked to
    // `ipv6_prefix` bits (a whole /64 by default).
    Address offender_key(unsigned ipv6_prefix) const noexcept {
        return is_ipv4() ? *this : masked(ipv6_prefix);
    }

    // "198.18.1.10" for IPv4, RFC 5952 form for IPv6.
    std::string to_string() const;

    friend bool operator==(const Address&, const Address&) = default;
};

}  // namespace xmlrpcguard
