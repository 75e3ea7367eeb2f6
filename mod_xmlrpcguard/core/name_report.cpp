#include "xmlrpcguard/name_report.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace xmlrpcguard {

namespace {

// [0,4) magic  [4] version  [5] vhost slot  [6] maxretry  [7] name length
// [8,12) findtime  [12,16) locktime  [16,24) vhost id  [24,32) local hash (little-endian)
// [32,32+length) folded name  then zero to the end
constexpr std::array<std::byte, 4> kMagic{std::byte{'X'}, std::byte{'R'}, std::byte{'G'},
                                          std::byte{'U'}};
constexpr std::byte kVersion{1};
constexpr std::size_t kNameAt = 32;
static_assert(kNameAt + kMaxFoldedName <= kNameMessageSize);

void put(std::byte* at, std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) {
        at[i] = std::byte(static_cast<std::uint8_t>(value >> (8 * i)));
    }
}

std::uint64_t get(const std::byte* at, int bytes) {
    std::uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) {
        value |= static_cast<std::uint64_t>(at[i]) << (8 * i);
    }
    return value;
}

}  // namespace

NameMessage encode(const NameFailureReport& report) noexcept {
    NameMessage message{};
    std::copy(kMagic.begin(), kMagic.end(), message.begin());
    std::size_t length = std::min(report.folded.size(), kMaxFoldedName);
    message[4] = kVersion;
    message[5] = std::byte{report.vhost_slot};
    message[6] = std::byte(static_cast<std::uint8_t>(report.rule.maxretry));
    message[7] = std::byte(static_cast<std::uint8_t>(length));
    put(message.data() + 8, report.rule.findtime, 4);
    put(message.data() + 12, report.rule.locktime, 4);
    put(message.data() + 16, report.vhost_id, 8);
    put(message.data() + 24, report.local_hash, 8);
    std::memcpy(message.data() + kNameAt, report.folded.data(), length);
    return message;
}

bool looks_like_name_failure(std::span<const std::byte> bytes) noexcept {
    return bytes.size() >= kMagic.size() && std::equal(kMagic.begin(), kMagic.end(), bytes.begin());
}

std::optional<NameFailureReport> decode_name_failure(std::span<const std::byte> bytes) noexcept {
    if (bytes.size() != kNameMessageSize || !looks_like_name_failure(bytes) ||
        bytes[4] != kVersion) {
        return std::nullopt;
    }
    NameFailureReport report;
    report.vhost_slot = static_cast<std::uint8_t>(bytes[5]);
    report.rule.maxretry = static_cast<std::uint8_t>(bytes[6]);
    auto length = static_cast<std::size_t>(bytes[7]);
    report.rule.findtime = static_cast<std::uint32_t>(get(bytes.data() + 8, 4));
    report.rule.locktime = static_cast<std::uint32_t>(get(bytes.data() + 12, 4));
    report.vhost_id = get(bytes.data() + 16, 8);
    report.local_hash = get(bytes.data() + 24, 8);
    auto in = [](std::uint32_t value, std::uint32_t low, std::uint32_t high) {
        return value >= low && value <= high;
    };
    auto tail = bytes.subspan(kNameAt + std::min(length, kMaxFoldedName));
    if (report.vhost_slot >= UserTable::kVhosts || report.vhost_id == 0 || report.local_hash == 0 ||
        !in(report.rule.maxretry, 1, UserTable::kMaxRetryCap) ||
        !in(report.rule.findtime, 1, kMaxUserSeconds) ||
        !in(report.rule.locktime, 1, kMaxUserSeconds) || length == 0 || length > kMaxFoldedName ||
        !std::all_of(tail.begin(), tail.end(), [](std::byte b) { return b == std::byte{0}; })) {
        return std::nullopt;
    }
    report.folded.assign(reinterpret_cast<const char*>(bytes.data() + kNameAt), length);
    return report;
}

NameKey fleet_name_key(std::string_view secret) noexcept {
    auto bytes = std::span(reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
    // Fixed, public keys: the secret is the file's text, these only make two halves.
    constexpr NameKey kFirst{0x5852472d666c6565ULL, 0x742d6e616d65732dULL};
    constexpr NameKey kSecond{0x6b65792d64657269ULL, 0x766174696f6e2d32ULL};
    return {siphash24(kFirst, bytes), siphash24(kSecond, bytes)};
}

std::uint64_t fleet_name_hash(const NameKey& key, std::uint64_t vhost_id,
                              std::string_view folded) noexcept {
    // The vhost's id first, in a fixed width: one name of two sites is two names.
    unsigned char input[8 + kMaxFoldedName];
    for (int i = 0; i < 8; ++i) {
        input[i] = static_cast<unsigned char>(vhost_id >> (8 * i));
    }
    std::size_t length = std::min(folded.size(), kMaxFoldedName);
    std::memcpy(input + 8, folded.data(), length);
    std::uint64_t hash = siphash24(key, std::span<const unsigned char>(input, 8 + length));
    return hash == 0 ? 1 : hash;
}

}  // namespace xmlrpcguard
