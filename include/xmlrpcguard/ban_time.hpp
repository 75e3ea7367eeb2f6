// How long a ban lasts: fail2ban's bantime.increment, as one pure function. With the
// increment on, the n-th ban of an address (or its IPv6 /N) lasts
// bantime * factor^(n-1), capped at the maximum (never below bantime); a random extra
// of up to `jitter` seconds is added after the cap, so the end of a ban, even a capped
// one, cannot be computed from the outside (fail2ban's bantime.rndtime).
#pragma once

#include <cstdint>

namespace xmlrpcguard {

struct BanTimePolicy {
    std::uint32_t bantime =
        86400;               // XmlRpcGuardBanTime: the first ban, and every ban without increment
    bool increment = false;  // XmlRpcGuardBanTimeIncrement
    double factor = 2.0;     // XmlRpcGuardBanTimeFactor (1 to 1000)
    std::uint32_t max = 604800;  // XmlRpcGuardBanTimeMax
    std::uint32_t jitter = 0;    // XmlRpcGuardBanTimeJitter: up to this much more, at random
};

// Longest ban the formula gives (ten years; the table keeps 32-bit times).
inline constexpr std::uint32_t kMaxBanSeconds = 3650u * 86400u;

// Seconds the `nth` ban (1 = the first) lasts, without jitter: what the status page
// and xmlrpcguardctl show as the next ban's length. nth 0 counts as 1.
std::uint32_t ban_length(const BanTimePolicy& policy, std::uint32_t nth) noexcept;

// The same plus the jitter: `random` is any uniformly random 32-bit number; the extra
// is random % (jitter + 1) seconds.
std::uint32_t ban_length(const BanTimePolicy& policy, std::uint32_t nth,
                         std::uint32_t random) noexcept;

}  // namespace xmlrpcguard
