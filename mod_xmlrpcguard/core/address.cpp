#include "xmlrpcguard/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace xmlrpcguard {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

std::optional<Address> Address::parse(std::string_view text) noexcept {
    // inet_pton wants a NUL-terminated string; the longest IPv6 text form is 45 chars.
    char buffer[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buffer) {
        return std::nullopt;
    }
    std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';

    Address address;
    in_addr v4;
    if (inet_pton(AF_INET, buffer, &v4) == 1) {
        std::copy(kMappedPrefix.begin(), kMappedPrefix.end(), address.bytes.begin());
        std::memcpy(address.bytes.data() + 12, &v4, 4);
        return address;
    }
    if (inet_pton(AF_INET6, buffer, address.bytes.data()) == 1) {
        return address;
    }
    return std::nullopt;
}

Address Address::from_ipv4(std::uint32_t host_order) noexcept {
    Address address;
    std::copy(kMappedPrefix.begin(), kMappedPrefix.end(), address.bytes.begin());
    address.bytes[12] = static_cast<std::uint8_t>(host_order >> 24);
    address.bytes[13] = static_cast<std::uint8_t>(host_order >> 16);
    address.bytes[14] = static_cast<std::uint8_t>(host_order >> 8);
    address.bytes[15] = static_cast<std::uint8_t>(host_order);
    return address;
}

bool Address::is_ipv4() const noexcept {
    return std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin());
}

bool Address::is_loopback() const noexcept {
    if (is_ipv4()) {
        return bytes[12] == 127;
    }
    static constexpr std::array<std::uint8_t, 16> kV6Loopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                                 0, 0, 0, 0, 0, 0, 0, 1};
    return bytes == kV6Loopback;
}

Address Address::masked(unsigned prefix) const noexcept {
    // An IPv4 prefix counts from bit 96 of the mapped form.
    unsigned bits = is_ipv4() ? 96 + std::min(prefix, 32u) : std::min(prefix, 128u);
    Address out = *this;
    for (unsigned i = 0; i < 16; ++i) {
        unsigned byte_start = i * 8;
        if (bits >= byte_start + 8) {
            continue;
        }
        unsigned keep = bits > byte_start ? bits - byte_start : 0;
        out.bytes[i] &= static_cast<std::uint8_t>(0xff00u >> keep);
    }
    return out;
}

std::string Address::to_string() const {
    char buffer[INET6_ADDRSTRLEN];
    const char* text = is_ipv4() ? inet_ntop(AF_INET, bytes.data() + 12, buffer, sizeof buffer)
                                 : inet_ntop(AF_INET6, bytes.data(), buffer, sizeof buffer);
    return text ? std::string(text) : std::string();
}

}  // namespace xmlrpcguard
