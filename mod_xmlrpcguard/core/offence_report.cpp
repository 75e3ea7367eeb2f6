#include "xmlrpcguard/offence_report.hpp"

#include <algorithm>
#include <cstring>

#include "xmlrpcguard/ban_key.hpp"
#include "xmlrpcguard/ban_time.hpp"

namespace xmlrpcguard {

namespace {

// [0,4) magic  [4] version  [5] prefix  [6] count  [7] maxretry  [8] reason  [9,12) zero
// [12,16) findtime  [16,20) bantime (little-endian)  [20,36) address  [36,40) zero
constexpr std::array<std::byte, 4> kMagic{std::byte{'X'}, std::byte{'R'}, std::byte{'G'},
                                          std::byte{'O'}};
constexpr std::byte kVersion{1};
constexpr std::uint32_t kMaxFindTime = 3650u * 86400u;

void put32(std::byte* at, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) {
        at[i] = std::byte(static_cast<std::uint8_t>(value >> (8 * i)));
    }
}

std::uint32_t get32(const std::byte* at) {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
        value |= static_cast<std::uint32_t>(at[i]) << (8 * i);
    }
    return value;
}

bool all_zero(std::span<const std::byte> bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

OffenceReport offence_report(const Address& key, unsigned ipv6_prefix, std::uint64_t count,
                             WindowRule rule, std::uint32_t bantime, BanReason reason) noexcept {
    OffenceReport report;
    BanRequest as_ban = offender_ban(key, ipv6_prefix, bantime);
    report.key = as_ban.key;
    report.prefix = as_ban.prefix;
    report.count =
        static_cast<std::uint8_t>(std::min<std::uint64_t>(count, WindowTable::kMaxRetryLimit));
    report.rule = rule;
    report.bantime = bantime;
    report.reason = reason;
    return report;
}

OffenceMessage encode(const OffenceReport& report) noexcept {
    OffenceMessage message{};
    std::copy(kMagic.begin(), kMagic.end(), message.begin());
    message[4] = kVersion;
    message[5] = std::byte{report.prefix};
    message[6] = std::byte{report.count};
    message[7] = std::byte(static_cast<std::uint8_t>(report.rule.maxretry));
    message[8] = std::byte(static_cast<std::uint8_t>(report.reason));
    put32(message.data() + 12, report.rule.findtime);
    put32(message.data() + 16, report.bantime);
    std::memcpy(message.data() + 20, report.key.bytes.data(), 16);
    return message;
}

bool looks_like_offence(std::span<const std::byte> bytes) noexcept {
    return bytes.size() >= kMagic.size() && std::equal(kMagic.begin(), kMagic.end(), bytes.begin());
}

std::optional<OffenceReport> decode_offence(std::span<const std::byte> bytes) noexcept {
    if (bytes.size() != kOffenceMessageSize || !looks_like_offence(bytes) || bytes[4] != kVersion ||
        !all_zero(bytes.subspan(9, 3)) || !all_zero(bytes.subspan(36, 4))) {
        return std::nullopt;
    }
    OffenceReport report;
    report.prefix = static_cast<std::uint8_t>(bytes[5]);
    report.count = static_cast<std::uint8_t>(bytes[6]);
    report.rule.maxretry = static_cast<std::uint8_t>(bytes[7]);
    auto reason = static_cast<std::uint8_t>(bytes[8]);
    report.rule.findtime = get32(bytes.data() + 12);
    report.bantime = get32(bytes.data() + 16);
    std::memcpy(report.key.bytes.data(), bytes.data() + 20, 16);
    auto in = [](std::uint32_t value, std::uint32_t low, std::uint32_t high) {
        return value >= low && value <= high;
    };
    if (!ban_key_fits(report.key, report.prefix) ||
        !in(report.count, 1, WindowTable::kMaxRetryLimit) ||
        !in(report.rule.maxretry, 1, WindowTable::kMaxRetryLimit) ||
        !in(report.rule.findtime, 1, kMaxFindTime) || !in(report.bantime, 1, kMaxBanSeconds) ||
        !in(reason, static_cast<std::uint8_t>(BanReason::AuthFailure),
            static_cast<std::uint8_t>(BanReason::LoginFailure))) {
        return std::nullopt;
    }
    report.reason = static_cast<BanReason>(reason);
    return report;
}

}  // namespace xmlrpcguard
