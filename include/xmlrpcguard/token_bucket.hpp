// A ceiling on how often something may happen: `per_second` on average, up to `burst`
// at once. The helper's rate ceilings on kernel adds (addresses, prefixes).
#pragma once

#include <algorithm>
#include <cstdint>

namespace xmlrpcguard {

class TokenBucket {
  public:
    TokenBucket(std::uint32_t per_second, std::uint32_t burst) noexcept
        : per_second_(per_second), burst_(burst), tokens_(burst) {}

    // One token at `now` (seconds), if there is one.
    bool take(std::int64_t now) noexcept {
        if (now > refilled_at_) {
            double earned = static_cast<double>(now - refilled_at_) * per_second_;
            tokens_ = std::min<double>(burst_, tokens_ + earned);
            refilled_at_ = now;
        }
        if (tokens_ < 1) {
            return false;
        }
        tokens_ -= 1;
        return true;
    }

  private:
    std::uint32_t per_second_;
    std::uint32_t burst_;
    double tokens_;
    std::int64_t refilled_at_ = 0;
};

}  // namespace xmlrpcguard
