#include "xmlrpcguard/user_table.hpp"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>

namespace xmlrpcguard {

namespace {
constexpr std::uint64_t kMagic = 0x5852475553455253ULL;  // "XRGUSERS"
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kStripes = 64;
constexpr std::size_t kAlign = 64;
constexpr std::size_t kBuckets = 16;  // failure-rate periods kept per vhost

constexpr std::size_t round_up(std::size_t n) {
    return (n + kAlign - 1) & ~(kAlign - 1);
}

std::uint32_t clamp_time(std::int64_t t) noexcept {
    return t <= 0 ? 0 : t >= 0xFFFFFFFFLL ? 0xFFFFFFFFU : static_cast<std::uint32_t>(t);
}
}  // namespace

struct UserTable::Header {
    std::uint64_t magic;
    std::uint32_t version;
    std::uint32_t record_size;
    std::uint64_t capacity;
    std::atomic<std::uint64_t> failures;
    std::atomic<std::uint64_t> locks;
    std::atomic<std::uint64_t> refused;
    std::atomic<std::uint64_t> answered;
    std::atomic<std::uint64_t> alarms;
    std::atomic<std::uint64_t> trusts;
    std::atomic<std::uint64_t> lock_recoveries;
};

struct UserTable::Stripe {
    pthread_mutex_t mutex;
};

struct UserTable::Vhost {
    std::atomic<std::uint64_t> id;            // 0: free; claimed once by CAS
    std::atomic<std::uint32_t> lock_horizon;  // no lock of this vhost ends later
    std::atomic<std::uint32_t> alarm_flag;
    std::atomic<std::uint64_t> bucket[kBuckets];  // (period number << 24) | failures
    // Appended (in what was padding; a region of the layout before holds 0 here):
    // bumped under the record's stripe whenever a trust is taken away (trust_generation).
    std::atomic<std::uint32_t> trust_generation;
};

struct UserTable::Record {
    std::uint64_t name;         // keyed hash of the folded name; 0 = empty
    std::uint64_t vhost;        // the vhost's id
    std::uint32_t ring[kRing];  // failure times
    std::uint32_t head;
    std::uint32_t failures;
    std::uint32_t locked_since;
    std::uint32_t locked_until;
    std::uint32_t locks;
    std::uint32_t last_activity;
    struct Trusted {
        std::uint8_t key[16];
        std::uint32_t until;
    } trusted[kTrusted];
};

std::size_t UserTable::region_size(std::size_t capacity) noexcept {
    std::size_t records = std::max(kMinCapacity, (capacity + kBucket - 1) / kBucket * kBucket);
    return round_up(sizeof(Header)) + round_up(sizeof(Stripe)) * kStripes +
           round_up(sizeof(Vhost)) * kVhosts + round_up(sizeof(Record)) * records;
}

UserTable::Header* UserTable::header() const noexcept {
    return reinterpret_cast<Header*>(base_);
}
UserTable::Stripe* UserTable::stripe(std::size_t bucket) const noexcept {
    return reinterpret_cast<Stripe*>(base_ + round_up(sizeof(Header)) +
                                     round_up(sizeof(Stripe)) * (bucket % kStripes));
}
UserTable::Vhost* UserTable::vhost(std::size_t slot) const noexcept {
    return reinterpret_cast<Vhost*>(base_ + round_up(sizeof(Header)) +
                                    round_up(sizeof(Stripe)) * kStripes +
                                    round_up(sizeof(Vhost)) * (slot % kVhosts));
}
UserTable::Record* UserTable::record(std::size_t index) const noexcept {
    return reinterpret_cast<Record*>(
        base_ + round_up(sizeof(Header)) + round_up(sizeof(Stripe)) * kStripes +
        round_up(sizeof(Vhost)) * kVhosts + round_up(sizeof(Record)) * (index % capacity_));
}

std::pair<UserTable, UserTable::Attach> UserTable::attach(void* base, std::size_t bytes,
                                                          std::size_t capacity) {
    std::size_t records = std::max(kMinCapacity, (capacity + kBucket - 1) / kBucket * kBucket);
    if (!base || bytes < region_size(records)) {
        throw std::invalid_argument("user table region too small");
    }
    UserTable table;
    table.base_ = static_cast<std::byte*>(base);
    table.capacity_ = records;
    Header* h = table.header();
    if (h->magic == kMagic && h->version == kVersion && h->record_size == sizeof(Record) &&
        h->capacity == records) {
        return {table, Attach::Reused};
    }
    std::memset(base, 0, region_size(records));
    h = new (base) Header{};
    for (std::size_t i = 0; i < kStripes; ++i) {
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        pthread_mutex_init(&table.stripe(i)->mutex, &attr);
        pthread_mutexattr_destroy(&attr);
    }
    h->version = kVersion;
    h->record_size = sizeof(Record);
    h->capacity = records;
    h->magic = kMagic;
    return {table, Attach::Formatted};
}

bool UserTable::lock(Stripe* s, bool wait) const noexcept {
    // Uncontended (the usual case): no clock read for a deadline that is not needed.
    int rc = pthread_mutex_trylock(&s->mutex);
    if (rc == EBUSY && wait) {
        timespec deadline{};
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 1;
        rc = pthread_mutex_timedlock(&s->mutex, &deadline);
    }
    if (rc == EOWNERDEAD) {
        // A holder died: its one record may be half written (data, never geometry).
        pthread_mutex_consistent(&s->mutex);
        header()->lock_recoveries.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    return rc == 0;
}

void UserTable::unlock(Stripe* s) noexcept {
    pthread_mutex_unlock(&s->mutex);
}

std::size_t UserTable::bucket_of(std::uint64_t vhost_id, std::uint64_t name) const noexcept {
    std::uint64_t mixed = name ^ (vhost_id * 0x9E3779B97F4A7C15ULL);
    mixed ^= mixed >> 31;
    return static_cast<std::size_t>(mixed % (capacity_ / kBucket));
}

std::optional<std::size_t> UserTable::vhost_slot(std::uint64_t id) const noexcept {
    if (id == 0) {
        id = 1;
    }
    for (std::size_t i = 0; i < kVhosts; ++i) {
        std::uint64_t seen = vhost(i)->id.load(std::memory_order_acquire);
        if (seen == id) {
            return i;
        }
        if (seen == 0) {
            std::uint64_t expected = 0;
            if (vhost(i)->id.compare_exchange_strong(expected, id) || expected == id) {
                return i;
            }
        }
    }
    return std::nullopt;
}

std::uint64_t UserTable::vhost_id(std::size_t slot) const noexcept {
    return vhost(slot)->id.load(std::memory_order_relaxed);
}

UserTable::Record* UserTable::find(std::size_t bucket, std::uint64_t vhost_id,
                                   std::uint64_t name) const noexcept {
    for (std::size_t i = 0; i < kBucket; ++i) {
        Record* r = record(bucket * kBucket + i);
        if (r->name == name && r->vhost == vhost_id) {
            return r;
        }
    }
    return nullptr;
}

// A new name takes an empty slot, else the least recently active one that is neither
// locked nor trusted by anyone: an attacker's flood of made-up names cannot push out
// a locked name or an owner's trust. A bucket of only those refuses.
UserTable::Record* UserTable::claim(std::size_t bucket, std::uint64_t vhost_id, std::uint64_t name,
                                    std::int64_t now) const noexcept {
    Record* best = nullptr;
    auto t = clamp_time(now);
    for (std::size_t i = 0; i < kBucket; ++i) {
        Record* r = record(bucket * kBucket + i);
        if (r->name == 0) {
            best = r;
            break;
        }
        bool kept = r->locked_until > t;
        for (const auto& trusted : r->trusted) {
            kept = kept || trusted.until > t;
        }
        if (!kept && (!best || r->last_activity < best->last_activity)) {
            best = r;
        }
    }
    if (best) {
        // Evicted with a trust that ever was (ended by this writer's clock, perhaps not by
        // a child's): the memos must let it go. A made-up name never trusted moves nothing,
        // so a flood of them does not keep every memo cold.
        bool had_trust = false;
        for (const auto& trusted : best->trusted) {
            had_trust = had_trust || trusted.until != 0;
        }
        if (best->name != 0 && had_trust) {
            bump_trust_generation(best->vhost);
        }
        std::memset(best, 0, sizeof(Record));
        best->name = name;
        best->vhost = vhost_id;
    }
    return best;
}

FailureOutcome UserTable::record_failure(std::size_t slot, std::uint64_t name, std::int64_t now,
                                         const UserRule& rule) noexcept {
    FailureOutcome out;
    Held held = hold(slot, name, now, true);
    Record* r = held.record;
    if (!held.stripe) {
        return out;
    }
    if (!r) {
        unlock(held.stripe);
        header()->refused.fetch_add(1, std::memory_order_relaxed);
        return out;
    }
    auto t = clamp_time(now);
    std::uint32_t head = r->head % kRing;
    r->ring[head] = t;
    r->head = (head + 1) % kRing;
    ++r->failures;
    r->last_activity = t;
    std::uint32_t maxretry = std::min(rule.maxretry, kMaxRetryCap);
    for (std::uint32_t when : r->ring) {
        if (when != 0 && when <= t && t - when < rule.findtime) {
            ++out.in_window;
        }
    }
    bool was_locked = r->locked_until > t;
    if (was_locked || out.in_window > maxretry) {
        // Attempts go on: the lock lasts locktime after the last of them.
        if (!was_locked) {
            r->locked_since = t;
            ++r->locks;
            out.newly_locked = true;
        }
        r->locked_until = clamp_time(now + rule.locktime);
        out.locked = true;
        out.locked_until = r->locked_until;
    }
    unlock(held.stripe);
    out.recorded = true;
    header()->failures.fetch_add(1, std::memory_order_relaxed);
    if (out.newly_locked) {
        header()->locks.fetch_add(1, std::memory_order_relaxed);
    }
    if (out.locked) {
        auto& horizon = vhost(slot)->lock_horizon;
        std::uint32_t seen = horizon.load(std::memory_order_relaxed);
        auto until = static_cast<std::uint32_t>(out.locked_until);
        while (seen < until && !horizon.compare_exchange_weak(seen, until)) {
        }
    }
    return out;
}

bool UserTable::any_lock(std::size_t slot, std::int64_t now) const noexcept {
    return vhost(slot)->lock_horizon.load(std::memory_order_relaxed) > clamp_time(now);
}

// The record of (vhost, name) with its stripe locked (stripe null: not had in time);
// `create` claims a slot for a new name (record null: the bucket refused).
UserTable::Held UserTable::hold(std::size_t slot, std::uint64_t name, std::int64_t now, bool create,
                                bool wait) const noexcept {
    std::uint64_t id = vhost_id(slot);
    std::size_t bucket = bucket_of(id, name);
    Stripe* s = stripe(bucket);
    if (!lock(s, wait)) {
        return {};
    }
    Record* r = find(bucket, id, name);
    if (!r && create) {
        r = claim(bucket, id, name, now);
    }
    return {s, r};
}

bool UserTable::locked(std::size_t slot, std::uint64_t name, std::int64_t now) const noexcept {
    Held held = hold(slot, name, now, false);
    if (!held.stripe) {
        return false;
    }
    bool result = held.record && held.record->locked_until > clamp_time(now);
    unlock(held.stripe);
    return result;
}

bool UserTable::trusted(std::size_t slot, std::uint64_t name, const Address& who,
                        std::int64_t now) const noexcept {
    return trusted_until(slot, name, who, now) != 0;
}

std::int64_t UserTable::trusted_until(std::size_t slot, std::uint64_t name, const Address& who,
                                      std::int64_t now) const noexcept {
    Held held = hold(slot, name, now, false);
    if (!held.stripe) {
        return 0;
    }
    Record* r = held.record;
    std::int64_t result = 0;
    if (r) {
        for (const auto& trusted : r->trusted) {
            if (trusted.until > clamp_time(now) &&
                std::memcmp(trusted.key, who.bytes.data(), 16) == 0) {
                result = std::max<std::int64_t>(result, trusted.until);
            }
        }
    }
    unlock(held.stripe);
    return result;
}

void UserTable::trust(std::size_t slot, std::uint64_t name, const Address& who, std::int64_t now,
                      std::int64_t until) noexcept {
    Held held = hold(slot, name, now, true);
    if (!held.stripe) {
        return;
    }
    Record* r = held.record;
    if (r) {
        Record::Trusted* place = &r->trusted[0];
        for (auto& trusted : r->trusted) {
            if (std::memcmp(trusted.key, who.bytes.data(), 16) == 0) {
                place = &trusted;
                break;
            }
            if (trusted.until < place->until) {
                place = &trusted;  // the one that ends first makes room
            }
        }
        bool same = std::memcmp(place->key, who.bytes.data(), 16) == 0;
        if (place->until != 0 && (!same || clamp_time(until) < place->until)) {
            // Another address's trust displaced (ended or not by this reading of the
            // clock: another child's may be a second behind), or this one's shortened.
            vhost(slot)->trust_generation.fetch_add(1, std::memory_order_release);
        }
        std::memcpy(place->key, who.bytes.data(), 16);
        place->until = clamp_time(until);
        r->last_activity = clamp_time(now);
        header()->trusts.fetch_add(1, std::memory_order_relaxed);
    } else {
        header()->refused.fetch_add(1, std::memory_order_relaxed);
    }
    unlock(held.stripe);
}

void UserTable::lift_trust(std::size_t slot, std::uint64_t name) noexcept {
    Held held = hold(slot, name, 0, false);
    if (!held.stripe) {
        return;
    }
    if (held.record) {
        for (auto& trusted : held.record->trusted) {
            trusted = {};
        }
        vhost(slot)->trust_generation.fetch_add(1, std::memory_order_release);
    }
    unlock(held.stripe);
}

std::uint32_t UserTable::trust_generation(std::size_t slot) const noexcept {
    return vhost(slot)->trust_generation.load(std::memory_order_acquire);
}

void UserTable::bump_trust_generation(std::uint64_t vhost_id) const noexcept {
    for (std::size_t i = 0; i < kVhosts; ++i) {
        if (vhost(i)->id.load(std::memory_order_relaxed) == vhost_id) {
            vhost(i)->trust_generation.fetch_add(1, std::memory_order_release);
            return;
        }
    }
}

void UserTable::count_failure(std::size_t slot, std::int64_t now, const AlarmRule& rule) noexcept {
    if (rule.period == 0) {
        return;
    }
    auto period = static_cast<std::uint64_t>(now) / rule.period;
    auto& cell = vhost(slot)->bucket[period % kBuckets];
    std::uint64_t seen = cell.load(std::memory_order_relaxed);
    for (;;) {
        std::uint64_t wanted = (seen >> 24) == (period & 0xFFFFFFFFFFULL)
                                   ? seen + ((seen & 0xFFFFFF) < 0xFFFFFF ? 1 : 0)
                                   : ((period & 0xFFFFFFFFFFULL) << 24) | 1;
        if (cell.compare_exchange_weak(seen, wanted, std::memory_order_relaxed)) {
            return;
        }
    }
}

AlarmState UserTable::alarm(std::size_t slot, std::int64_t now,
                            const AlarmRule& rule) const noexcept {
    AlarmState state;
    if (rule.period == 0 || (rule.rate == 0 && rule.factor == 0)) {
        return state;
    }
    auto period = static_cast<std::uint64_t>(now) / rule.period;
    const Vhost* record = vhost(slot);  // once: it is asked for up to 16 periods
    auto count_of = [&](std::uint64_t p) -> std::uint32_t {
        std::uint64_t cell = record->bucket[p % kBuckets].load(std::memory_order_relaxed);
        return (cell >> 24) == (p & 0xFFFFFFFFFFULL) ? static_cast<std::uint32_t>(cell & 0xFFFFFF)
                                                     : 0;
    };
    // The current period plus the part of the previous one that a sliding window of one
    // period still covers.
    std::uint64_t into = static_cast<std::uint64_t>(now) % rule.period;
    std::uint64_t previous = period > 0 ? count_of(period - 1) : 0;
    state.rate = count_of(period) +
                 static_cast<std::uint32_t>(previous * (rule.period - into) / rule.period);
    std::uint64_t sum = 0;
    std::uint32_t periods = 0;
    for (std::uint64_t back = 2; back < kBuckets && back <= period; ++back) {
        sum += count_of(period - back);
        ++periods;
    }
    state.baseline = periods ? static_cast<std::uint32_t>(sum / periods) : 0;
    state.on = (rule.rate > 0 && state.rate >= rule.rate) ||
               (rule.factor > 0 && state.rate >= rule.floor &&
                state.rate >= rule.factor * std::max<std::uint32_t>(state.baseline, 1));
    return state;
}

bool UserTable::set_alarm_flag(std::size_t slot, bool on) noexcept {
    std::uint32_t expected = on ? 0 : 1;
    bool changed = vhost(slot)->alarm_flag.compare_exchange_strong(expected, on ? 1 : 0);
    if (changed && on) {
        header()->alarms.fetch_add(1, std::memory_order_relaxed);
    }
    return changed;
}

bool UserTable::alarm_flag(std::size_t slot) const noexcept {
    return vhost(slot)->alarm_flag.load(std::memory_order_relaxed) == 1;
}

void UserTable::count_answered() noexcept {
    header()->answered.fetch_add(1, std::memory_order_relaxed);
}

std::vector<UserLockView> UserTable::locks(std::int64_t now, std::size_t at_most) const {
    std::vector<UserLockView> out;
    auto t = clamp_time(now);
    for (std::size_t b = 0; b < capacity_ / kBucket && out.size() < at_most; ++b) {
        Stripe* s = stripe(b);
        if (!lock(s)) {
            continue;
        }
        for (std::size_t i = 0; i < kBucket && out.size() < at_most; ++i) {
            const Record* r = record(b * kBucket + i);
            if (r->name != 0 && r->locked_until > t) {
                out.push_back(
                    {r->vhost, r->name, r->locked_since, r->locked_until, r->failures, r->locks});
            }
        }
        unlock(s);
    }
    return out;
}

bool UserTable::impose_lock(std::size_t slot, std::uint64_t name, std::int64_t now,
                            std::int64_t until) noexcept {
    Held held = hold(slot, name, now, true, false);
    if (!held.stripe || !held.record) {
        if (held.stripe) {
            unlock(held.stripe);
            header()->refused.fetch_add(1, std::memory_order_relaxed);
        }
        return false;
    }
    Record* r = held.record;
    auto t = clamp_time(now);
    auto end = clamp_time(until);
    bool newly = r->locked_until <= t;
    if (newly) {
        r->locked_since = t;
        ++r->locks;
    }
    r->locked_until = std::max(r->locked_until, end);
    r->last_activity = t;
    unlock(held.stripe);
    if (newly) {
        header()->locks.fetch_add(1, std::memory_order_relaxed);
    }
    auto& horizon = vhost(slot)->lock_horizon;
    std::uint32_t seen = horizon.load(std::memory_order_relaxed);
    while (seen < end && !horizon.compare_exchange_weak(seen, end)) {
    }
    return true;
}

UserTableStats UserTable::stats() const noexcept {
    UserTableStats out;
    const Header* h = header();
    out.failures = h->failures.load(std::memory_order_relaxed);
    out.locks = h->locks.load(std::memory_order_relaxed);
    out.refused = h->refused.load(std::memory_order_relaxed);
    out.answered = h->answered.load(std::memory_order_relaxed);
    out.alarms = h->alarms.load(std::memory_order_relaxed);
    out.trusts = h->trusts.load(std::memory_order_relaxed);
    out.lock_recoveries = h->lock_recoveries.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < capacity_; ++i) {
        out.names += record(i)->name != 0 ? 1 : 0;
    }
    return out;
}

}  // namespace xmlrpcguard
