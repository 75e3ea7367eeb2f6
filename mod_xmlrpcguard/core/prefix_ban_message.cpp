#include <algorithm>
#include <cstring>

#include "xmlrpcguard/prefix_ban.hpp"

namespace xmlrpcguard {
namespace {

// [0,4) magic  [4] version  [5] prefix length (IPv4 bits for IPv4)  [6,8) zero
// [8,12) seconds, little-endian  [12,28) network (IPv4 mapped)  [28,32) zero
constexpr std::array<std::byte, 4> kMagic{std::byte{'X'}, std::byte{'R'}, std::byte{'G'},
                                          std::byte{'N'}};
constexpr std::byte kVersion{1};

bool all_zero(std::span<const std::byte> bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

BanMessage encode_prefix(const PrefixBanRequest& request) noexcept {
    BanMessage message{};
    std::copy(kMagic.begin(), kMagic.end(), message.begin());
    message[4] = kVersion;
    message[5] = std::byte(static_cast<std::uint8_t>(request.prefix.prefix));
    for (int i = 0; i < 4; ++i) {
        message[8 + i] = std::byte(static_cast<std::uint8_t>(request.seconds >> (8 * i)));
    }
    std::memcpy(message.data() + 12, request.prefix.network.bytes.data(), 16);
    return message;
}

bool is_prefix_message(std::span<const std::byte> bytes) noexcept {
    return bytes.size() >= kMagic.size() && std::equal(kMagic.begin(), kMagic.end(), bytes.begin());
}

std::optional<PrefixBanRequest> decode_prefix(std::span<const std::byte> bytes) noexcept {
    if (bytes.size() != kBanMessageSize || !is_prefix_message(bytes) || bytes[4] != kVersion ||
        !all_zero(bytes.subspan(6, 2)) || !all_zero(bytes.subspan(28, 4))) {
        return std::nullopt;
    }
    PrefixBanRequest request;
    request.prefix.prefix = static_cast<unsigned>(bytes[5]);
    for (int i = 0; i < 4; ++i) {
        request.seconds |= static_cast<std::uint32_t>(bytes[8 + i]) << (8 * i);
    }
    std::memcpy(request.prefix.network.bytes.data(), bytes.data() + 12, 16);
    const Address& network = request.prefix.network;
    unsigned bits = request.prefix.prefix;
    bool fits = network.is_ipv4() ? bits >= kMinIPv4PrefixBan && bits < 32
                                  : bits >= kMinIPv6PrefixBan && bits < 128;
    if (!fits || network.masked(bits) != network || request.seconds == 0) {
        return std::nullopt;
    }
    return request;
}

}  // namespace xmlrpcguard
