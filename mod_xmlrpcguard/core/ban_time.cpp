#include "xmlrpcguard/ban_time.hpp"

#include <algorithm>

namespace xmlrpcguard {

std::uint32_t ban_length(const BanTimePolicy& policy, std::uint32_t nth) noexcept {
    std::uint32_t base = std::clamp<std::uint32_t>(policy.bantime, 1, kMaxBanSeconds);
    if (!policy.increment || nth <= 1) {
        return base;
    }
    // The cap never shortens the first ban: a max below bantime only stops growth.
    std::uint32_t cap = std::clamp<std::uint32_t>(policy.max, base, kMaxBanSeconds);
    double factor = std::clamp(policy.factor, 1.0, 1000.0);
    // Multiplied step by step and stopped at the cap, so no power overflows.
    double length = base;
    for (std::uint32_t n = 1; n < nth && length < cap; ++n) {
        length *= factor;
    }
    return length >= cap ? cap : static_cast<std::uint32_t>(length);
}

std::uint32_t ban_length(const BanTimePolicy& policy, std::uint32_t nth,
                         std::uint32_t random) noexcept {
    std::uint32_t length = ban_length(policy, nth);
    std::uint32_t jitter = std::min(policy.jitter, kMaxBanSeconds);
    if (jitter == 0) {
        return length;
    }
    std::uint64_t extra = random % (static_cast<std::uint64_t>(jitter) + 1);
    return static_cast<std::uint32_t>(length + extra);  // both under 2^31: no overflow
}

}  // namespace xmlrpcguard
