// How fast entries of the cluster's stream may lift bans here. Whoever can write to
// Redis can append unban and flush entries; without a ceiling a compromised Redis
// lifts every ban of every node in one turn of the loop, unseen. With it, stream
// unbans come at most `unbans_per_second` (burst `unban_burst`) and a stream flush at
// most once per `flush_interval` seconds; what is over is not applied (a ban stays
// until its end: the safe way to fail), and is counted (cluster_lifts_refused) and
// logged (XRG0409). An operator's own unban and flush on this node are not limited.
#pragma once

#include <cstdint>

#include "xmlrpcguard/token_bucket.hpp"

namespace xmlrpcguard {

struct LiftCeilingSettings {
    std::uint32_t unbans_per_second = 10;
    std::uint32_t unban_burst = 100;
    std::int64_t flush_interval = 60;
};

class LiftCeiling {
  public:
    explicit LiftCeiling(LiftCeilingSettings settings = {}) noexcept
        : settings_(settings), unbans_(settings.unbans_per_second, settings.unban_burst) {}

    bool unban(std::int64_t now) noexcept { return unbans_.take(now); }
    bool flush(std::int64_t now) noexcept;

  private:
    LiftCeilingSettings settings_;
    TokenBucket unbans_;
    bool flushed_ = false;
    std::int64_t flushed_at_ = 0;
};

}  // namespace xmlrpcguard
