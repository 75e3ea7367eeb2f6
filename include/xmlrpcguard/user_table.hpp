// Per-user-name windows across addresses, in a caller-given shared memory region
// beside the address table (see docs/ARCHITECTURE.md, "Who is being guessed").
//
// Layout: [Header][Stripe x 64][Vhost x 64][Record x capacity], offsets only, each
// part 64-byte aligned; the header holds a magic, a layout version and the record
// size, so a region of another build is formatted anew, never misread. A record is
// keyed by (vhost id, keyed hash of the folded name): no name is ever stored.
//
// Who writes what: the geometry once, in the httpd parent (attach), before any child;
// records only under their stripe's robust process-shared mutex (waited for at most
// a second: a scribbled or stuck mutex makes the call fail open, never stall); the
// vhost records (failure buckets, the lock horizon, the alarm flag) and the
// statistics by anyone, with atomics; a vhost's trust generation by whoever takes a
// trust away, with a release add while holding the record's stripe. A writer killed
// mid-update can leave one record half written: records are data (a ring index is
// clamped, times are compared, never used as sizes), so that costs at most a miscount
// of one name.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "xmlrpcguard/address.hpp"

namespace xmlrpcguard {

struct UserRule {
    std::uint32_t findtime = 600;  // seconds a name's failures are remembered
    std::uint32_t maxretry = 5;    // more failures than this within findtime lock the name
    std::uint32_t locktime = 900;  // how long a lock lasts after the last failure that fed it
};

struct AlarmRule {
    std::uint32_t rate = 0;     // failures per period that turn the alarm on; 0 = off
    std::uint32_t period = 60;  // seconds
    std::uint32_t factor = 0;   // or this many times the baseline (0 = off) ...
    std::uint32_t floor = 10;   // ... when at least this many failures
};

struct FailureOutcome {
    std::uint32_t in_window = 0;  // this name's failures within findtime, this one included
    bool newly_locked = false;    // this failure locked the name
    bool locked = false;          // locked after this failure
    std::int64_t locked_until = 0;
    bool recorded = false;  // false: the bucket held only locked or trusted names
};

struct AlarmState {
    bool on = false;
    std::uint32_t rate = 0;      // failures in the last period (sliding estimate)
    std::uint32_t baseline = 0;  // mean failures per period over the periods before
};

struct UserLockView {
    std::uint64_t vhost = 0;
    std::uint64_t name_hash = 0;
    std::int64_t locked_since = 0;
    std::int64_t locked_until = 0;
    std::uint32_t failures = 0;  // ever recorded for the name
    std::uint32_t locks = 0;
};

struct UserTableStats {
    std::uint64_t failures = 0;
    std::uint64_t locks = 0;
    std::uint64_t refused = 0;
    std::uint64_t answered = 0;  // attempts answered by the guard (set by the glue)
    std::uint64_t alarms = 0;
    std::uint64_t trusts = 0;
    std::uint64_t lock_recoveries = 0;
    std::size_t names = 0;  // records in use
};

class UserTable {
  public:
    static constexpr std::size_t kBucket = 8;
    static constexpr std::size_t kTrusted = 4;
    static constexpr std::size_t kRing = 16;
    static constexpr std::uint32_t kMaxRetryCap = kRing - 1;
    static constexpr std::size_t kVhosts = 64;
    static constexpr std::size_t kMinCapacity = 64;

    static std::size_t region_size(std::size_t capacity) noexcept;
    enum class Attach { Formatted, Reused };
    // Capacity is rounded up to whole buckets.
    static std::pair<UserTable, Attach> attach(void* base, std::size_t bytes, std::size_t capacity);

    // The vhost's slot (claimed on first use); nullopt when all are taken.
    std::optional<std::size_t> vhost_slot(std::uint64_t vhost) const noexcept;

    FailureOutcome record_failure(std::size_t vhost, std::uint64_t name, std::int64_t now,
                                  const UserRule& rule) noexcept;
    // Cheap: is any name of the vhost possibly locked now?
    bool any_lock(std::size_t vhost, std::int64_t now) const noexcept;
    bool locked(std::size_t vhost, std::uint64_t name, std::int64_t now) const noexcept;
    bool trusted(std::size_t vhost, std::uint64_t name, const Address& who,
                 std::int64_t now) const noexcept;
    // When `who`'s trust for the name ends; 0 when it is not trusted now.
    std::int64_t trusted_until(std::size_t vhost, std::uint64_t name, const Address& who,
                               std::int64_t now) const noexcept;
    void trust(std::size_t vhost, std::uint64_t name, const Address& who, std::int64_t now,
               std::int64_t until) noexcept;
    // Ends every trust of the name (an operator's lift).
    void lift_trust(std::size_t vhost, std::uint64_t name) noexcept;
    // Moves whenever a trust of the vhost is taken away or shortened before its end
    // (displaced by another address, lifted, its record evicted), so a copy of a
    // trust's end read at one generation is still a lower bound of it while the
    // generation has not moved (TrustMemo). Read it before the lookup it vouches for.
    std::uint32_t trust_generation(std::size_t vhost) const noexcept;

    // Counts one failure into the vhost's rate (every failure, named or not).
    void count_failure(std::size_t vhost, std::int64_t now, const AlarmRule& rule) noexcept;
    AlarmState alarm(std::size_t vhost, std::int64_t now, const AlarmRule& rule) const noexcept;
    // The alarm flag: true when this call changed it (for a log line on each change).
    bool set_alarm_flag(std::size_t vhost, bool on) noexcept;
    bool alarm_flag(std::size_t vhost) const noexcept;
    std::uint64_t vhost_id(std::size_t vhost) const noexcept;

    void count_answered() noexcept;
    // A lock decided elsewhere (the fleet's window, applied by the ban helper): the name
    // is locked until `until` at least; a lock here that ends later is kept. Never waits
    // for the record's stripe: false when it is held (the caller retries later) or the
    // bucket refused the name.
    bool impose_lock(std::size_t vhost, std::uint64_t name, std::int64_t now,
                     std::int64_t until) noexcept;
    std::vector<UserLockView> locks(std::int64_t now, std::size_t at_most) const;
    UserTableStats stats() const noexcept;
    std::size_t capacity() const noexcept { return capacity_; }

  private:
    friend struct UserTableTestAccess;  // tests/unit/user_table_access.hpp
    struct Header;
    struct Stripe;
    struct Vhost;
    struct Record;
    UserTable() = default;
    Header* header() const noexcept;
    Stripe* stripe(std::size_t bucket) const noexcept;
    Vhost* vhost(std::size_t slot) const noexcept;
    Record* record(std::size_t index) const noexcept;
    std::size_t bucket_of(std::uint64_t vhost_id, std::uint64_t name) const noexcept;
    // wait: up to a second when contended (a request thread fails open after it); the
    // helper never waits (a stripe www-data holds must not stall its loop).
    bool lock(Stripe* stripe, bool wait = true) const noexcept;
    static void unlock(Stripe* stripe) noexcept;
    Record* find(std::size_t bucket, std::uint64_t vhost_id, std::uint64_t name) const noexcept;
    struct Held {
        Stripe* stripe = nullptr;
        Record* record = nullptr;
    };
    Held hold(std::size_t vhost, std::uint64_t name, std::int64_t now, bool create,
              bool wait = true) const noexcept;
    Record* claim(std::size_t bucket, std::uint64_t vhost_id, std::uint64_t name,
                  std::int64_t now) const noexcept;
    void bump_trust_generation(std::uint64_t vhost_id) const noexcept;

    std::byte* base_ = nullptr;
    std::size_t capacity_ = 0;
};

}  // namespace xmlrpcguard
