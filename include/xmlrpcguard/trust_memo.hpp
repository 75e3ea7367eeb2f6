// A child's memo of the trusts it has renewed, so that a successful login of an
// address already trusted for the name does not look the trust up in the shared
// table (a stripe lock and the record's cache line, shared by every process) on every
// request. See docs/ARCHITECTURE.md, "The trust memo".
//
// An entry remembers (vhost slot, name hash, address key) -> the trust's end as the
// table held it, and the vhost's trust generation read before that lookup. It answers
// only while the generation has not moved since: every way a trust can be taken away
// or shortened (another address displacing it, an operator's lift, its record
// evicted) moves the generation, so a trust that is gone is never vouched for by the
// memo. It is a cache of the table, never a source: what it cannot vouch for is
// looked up.
//
// Concurrency: one memo per process (zero-initialised static storage), shared by its
// threads. Each entry is a seqlock: a writer takes it by CAS (odd) or skips the write
// (a memo may forget), a reader that sees it odd or moved treats it as a miss.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/user_table.hpp"

namespace xmlrpcguard {

struct TrustRenewal {
    bool written = false;        // the table was written (a new trust, or renewed)
    std::int64_t was_until = 0;  // the trust's end before; 0: it was not trusted
    bool memo_hit = false;       // decided from the memo, no lookup in the table
};

class TrustMemo {
  public:
    static constexpr std::size_t kEntries = 256;

    constexpr TrustMemo() = default;

    // After a successful login of `who` as the name: trust it for `trust_time` seconds
    // from now, writing the table only when the trust ends within a refresh step
    // (min(1 h, trust_time / 16)) of that, so a client that logs in on every call
    // renews at most once per step.
    TrustRenewal renew(UserTable& table, std::size_t vhost, std::uint64_t name, const Address& who,
                       std::int64_t now, std::int64_t trust_time) noexcept;

    // The trust's end as remembered at the generation given; 0 when not remembered.
    std::int64_t recall(std::size_t vhost, std::uint64_t name, const Address& who,
                        std::uint32_t generation) const noexcept;
    void remember(std::size_t vhost, std::uint64_t name, const Address& who,
                  std::uint32_t generation, std::int64_t until) noexcept;

  private:
    struct Entry {
        std::atomic<std::uint32_t> seq{0};  // odd while written
        std::atomic<std::uint32_t> generation{0};
        std::atomic<std::uint64_t> name{0};
        std::atomic<std::uint64_t> key_high{0};
        std::atomic<std::uint64_t> key_low{0};
        std::atomic<std::uint64_t> vhost_until{0};  // (vhost slot << 32) | until; 0: empty
    };
    static std::size_t index(std::size_t vhost, std::uint64_t name, std::uint64_t key_high,
                             std::uint64_t key_low) noexcept;

    std::array<Entry, kEntries> entries_{};
};

}  // namespace xmlrpcguard
