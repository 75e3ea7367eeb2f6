#include "xmlrpcguard/ban_request.hpp"

#include "xmlrpcguard/ban_key.hpp"

#include <algorithm>
#include <cstring>

namespace xmlrpcguard {

namespace {

// [0,4) magic  [4] version  [5] prefix  [6,8) zero  [8,12) seconds, little-endian
// [12,28) address  [28,32) zero
constexpr std::array<std::byte, 4> kMagic{std::byte{'X'}, std::byte{'R'}, std::byte{'G'},
                                          std::byte{'B'}};
constexpr std::byte kVersion{1};

bool all_zero(std::span<const std::byte> bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

BanMessage encode(const BanRequest& request) noexcept {
    BanMessage message{};
    std::copy(kMagic.begin(), kMagic.end(), message.begin());
    message[4] = kVersion;
    message[5] = std::byte{request.prefix};
    for (int i = 0; i < 4; ++i) {
        message[8 + i] = std::byte(static_cast<std::uint8_t>(request.seconds >> (8 * i)));
    }
    std::memcpy(message.data() + 12, request.key.bytes.data(), 16);
    return message;
}

std::optional<BanRequest> decode(std::span<const std::byte> bytes) noexcept {
    if (bytes.size() != kBanMessageSize ||
        !std::equal(kMagic.begin(), kMagic.end(), bytes.begin()) || bytes[4] != kVersion ||
        !all_zero(bytes.subspan(6, 2)) || !all_zero(bytes.subspan(28, 4))) {
        return std::nullopt;
    }
    BanRequest request;
    request.prefix = static_cast<std::uint8_t>(bytes[5]);
    for (int i = 0; i < 4; ++i) {
        request.seconds |= static_cast<std::uint32_t>(bytes[8 + i]) << (8 * i);
    }
    std::memcpy(request.key.bytes.data(), bytes.data() + 12, 16);
    if (!ban_key_fits(request.key, request.prefix) || request.seconds == 0) {
        return std::nullopt;
    }
    return request;
}

}  // namespace xmlrpcguard
