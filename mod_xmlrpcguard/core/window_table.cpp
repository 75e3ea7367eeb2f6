// WindowTable: see window_table_layout.hpp for the bytes and who writes them, and
// docs/ARCHITECTURE.md for why stripes of robust mutexes plus per-entry seqlocks.
#include "xmlrpcguard/window_table.hpp"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "shm_primitives.hpp"
#include "window_table_layout.hpp"

namespace xmlrpcguard {

using namespace window_table_layout;

struct WindowTable::Header : RegionHeader {};

namespace window_table_layout {
namespace {
std::atomic<WriteHook> g_write_hook{nullptr};
}  // namespace
void set_write_hook(WriteHook hook) noexcept {
    g_write_hook.store(hook, std::memory_order_relaxed);
}
WriteHook write_hook() noexcept {
    return g_write_hook.load(std::memory_order_relaxed);
}
}  // namespace window_table_layout

const char* to_string(BanReason reason) noexcept {
    switch (reason) {
        case BanReason::None:
            return "none";
        case BanReason::AuthFailure:
            return "auth_failure";
        case BanReason::PingbackError:
            return "pingback_error";
        case BanReason::LoginFailure:
            return "login_failure";
        case BanReason::Manual:
            return "manual";
    }
    return "unknown";
}

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr time_t kLockWaitSeconds = 1;

constexpr std::size_t round_up_64(std::size_t n) {
    return (n + 63) & ~std::size_t{63};
}

struct Geometry : Shape {
    std::size_t region_size = 0;
};

Geometry geometry_for(std::size_t capacity) {
    Geometry g;
    g.buckets = std::max<std::size_t>(1, (capacity + kBucketSize - 1) / kBucketSize);
    g.slots = g.buckets * kBucketSize;
    g.stripes = std::min(g.buckets, kMaxStripes);
    g.stripes_offset = round_up_64(sizeof(RegionHeader));
    g.entries_offset = g.stripes_offset + round_up_64(g.stripes * sizeof(Stripe));
    g.region_size = g.entries_offset + g.slots * sizeof(Entry);
    return g;
}

struct Key {
    std::uint64_t half[2];
    static Key of(const Address& address) noexcept {
        Key key;
        std::memcpy(key.half, address.bytes.data(), sizeof key.half);
        return key;
    }
    Address address() const noexcept {
        Address address;
        std::memcpy(address.bytes.data(), half, sizeof half);
        return address;
    }
};

// Times are kept as unsigned 32-bit seconds since the epoch (good until 2106).
std::uint32_t stored_time(std::int64_t t) noexcept {
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(t, 0, UINT32_MAX));
}

std::uint32_t saturating_add(std::uint32_t a, std::uint32_t b) noexcept {
    return b > UINT32_MAX - a ? UINT32_MAX : a + b;
}

// Offences of the ring within the last `findtime` seconds before `now`: t > now - findtime.
std::uint32_t ring_in_window(const EntryValue& v, std::int64_t now, std::uint32_t findtime) {
    std::int64_t horizon = now - static_cast<std::int64_t>(findtime);
    std::uint32_t n = 0;
    for (std::uint32_t i = 0; i < v.ring_size && i < kRingSize; ++i) {
        n += static_cast<std::int64_t>(v.ring[i]) > horizon ? 1 : 0;
    }
    return n;
}

// Keeps the kRingSize most recent of all offence times seen: `copies` more at `t`.
void ring_add(EntryValue& v, std::uint32_t t, std::uint32_t copies) {
    copies = std::min(copies, kRingSize);
    for (std::uint32_t c = 0; c < copies; ++c) {
        if (v.ring_size < kRingSize) {
            v.ring[v.ring_size++] = t;
            continue;
        }
        auto oldest = std::min_element(v.ring, v.ring + kRingSize);
        if (*oldest >= t) {
            return;  // every kept time is at least as recent
        }
        *oldest = t;
    }
}

EntryValue fresh_value(const Key& key) {
    EntryValue v{};
    v.key[0] = key.half[0];
    v.key[1] = key.half[1];
    v.used = 1;
    return v;
}

// Relaxed copies of every field; the caller provides the consistency (lock or seqlock).
EntryValue load_fields(const Entry& e) {
    EntryValue v;
    v.key[0] = e.key[0].load(kRelaxed);
    v.key[1] = e.key[1].load(kRelaxed);
    v.ban_until = e.ban_until.load(kRelaxed);
    v.banned_since = e.banned_since.load(kRelaxed);
    v.last_offence = e.last_offence.load(kRelaxed);
    v.offences_total = e.offences_total.load(kRelaxed);
    v.times_banned = e.times_banned.load(kRelaxed);
    v.used = e.used.load(kRelaxed);
    v.reason = e.reason.load(kRelaxed);
    v.httpd_only = e.httpd_only.load(kRelaxed);
    v.ring_size = e.ring_size.load(kRelaxed);
    for (std::uint32_t i = 0; i < kRingSize; ++i) {
        v.ring[i] = e.ring[i].load(kRelaxed);
    }
    return v;
}

// Seqlock write side; the caller holds the stripe. Readers that overlap retry.
void store_fields(Entry& e, const EntryValue& v) {
    std::uint32_t seq = e.seq.load(kRelaxed);
    std::uint32_t odd = seq | 1u;
    e.seq.store(odd, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
    e.key[0].store(v.key[0], kRelaxed);
    e.key[1].store(v.key[1], kRelaxed);
    e.ban_until.store(v.ban_until, kRelaxed);
    e.banned_since.store(v.banned_since, kRelaxed);
    e.last_offence.store(v.last_offence, kRelaxed);
    if (WriteHook hook = g_write_hook.load(kRelaxed)) {
        hook();
    }
    e.offences_total.store(v.offences_total, kRelaxed);
    e.times_banned.store(v.times_banned, kRelaxed);
    e.used.store(v.used, kRelaxed);
    e.reason.store(v.reason, kRelaxed);
    e.httpd_only.store(v.httpd_only, kRelaxed);
    e.ring_size.store(v.ring_size, kRelaxed);
    for (std::uint32_t i = 0; i < kRingSize; ++i) {
        e.ring[i].store(v.ring[i], kRelaxed);
    }
    e.seq.store(odd + 1, std::memory_order_release);
}

// Everything that needs the region's geometry, behind the public handle.
class TableAccess {
  public:
    TableAccess(RegionHeader* header, const Shape& shape) : h_(header), shape_(shape) {
        auto* base = reinterpret_cast<std::byte*>(header);
        stripes_ = reinterpret_cast<Stripe*>(base + shape.stripes_offset);
        entries_ = reinterpret_cast<Entry*>(base + shape.entries_offset);
    }

    RegionHeader& header() const { return *h_; }
    Entry& entry(std::size_t i) const { return entries_[i]; }
    std::size_t slots() const { return shape_.slots; }
    std::size_t buckets() const { return shape_.buckets; }
    std::size_t stripes() const { return shape_.stripes; }

    std::size_t bucket_of(const Key& key) const {
        return window_table_layout::bucket_of(shape_, key.half[0], key.half[1]);
    }
    Stripe& stripe_of_bucket(std::size_t bucket) const { return stripes_[bucket % shape_.stripes]; }
    Stripe& stripe_of_entry(std::size_t index) const {
        return stripe_of_bucket(index / kBucketSize);
    }

    // A consistent copy without locking. A write that does not end within a few tries
    // is waited for by trying the stripe's lock: a live writer holds it for microseconds,
    // a dead one's write is rolled back by whoever takes it. A read never blocks: if the
    // lock stays busy (another process scribbled over it), the copy is taken as it is;
    // nothing read from the region is trusted for more than data anyway.
    EntryValue read(std::size_t index) const {
        const Entry& e = entries_[index];
        for (int attempt = 0; attempt < 256; ++attempt) {
            std::uint32_t before = e.seq.load(std::memory_order_acquire);
            if ((before & 1u) == 0) {
                EntryValue v = load_fields(e);
                std::atomic_thread_fence(std::memory_order_acquire);
                if (e.seq.load(kRelaxed) == before) {
                    return v;
                }
            }
            if (attempt >= 64) {
                StripeLock lock(*this, stripe_of_entry(index), StripeLock::Wait::No);
                if (lock.locked()) {
                    return load_fields(e);
                }
                sched_yield();
            }
        }
        return load_fields(e);
    }

    // Holds a stripe; a dead previous holder's half-written entry is rolled back first.
    class StripeLock {
      public:
        enum class Wait : bool { No, Bounded };

        // A bounded wait: a holder keeps a stripe for microseconds, and a mutex another
        // process scribbled over must not stall this one (the helper above all) for
        // good. Past it the operation is refused, as for a full bucket.
        StripeLock(const TableAccess& table, Stripe& stripe, Wait wait = Wait::Bounded)
            : stripe_(stripe) {
            int rc;
            if (wait == Wait::No) {
                rc = pthread_mutex_trylock(&stripe.mutex);
            } else {
                timespec deadline{};
                clock_gettime(CLOCK_MONOTONIC, &deadline);
                deadline.tv_sec += kLockWaitSeconds;
                rc = pthread_mutex_clocklock(&stripe.mutex, CLOCK_MONOTONIC, &deadline);
            }
            if (rc == EOWNERDEAD) {
                // The previous holder died holding the stripe, maybe mid-write: put the
                // entry it was writing back as it was, then declare the mutex usable.
                table.roll_back(stripe);
                table.h_->lock_recoveries.fetch_add(1, kRelaxed);
                rc = pthread_mutex_consistent(&stripe.mutex);
            }
            locked_ = rc == 0;
        }
        ~StripeLock() {
            if (locked_) {
                pthread_mutex_unlock(&stripe_.mutex);
            }
        }
        StripeLock(const StripeLock&) = delete;
        StripeLock& operator=(const StripeLock&) = delete;
        bool locked() const { return locked_; }

      private:
        Stripe& stripe_;
        bool locked_ = false;
    };

    // Journalled write: the stripe's undo record first, then the entry.
    void write(std::size_t index, const EntryValue& value) const {
        Stripe& stripe = stripe_of_entry(index);
        stripe.backup = load_fields(entries_[index]);
        // The backup must be complete in memory before the journal points at it: the
        // next holder trusts it if this process dies from here on.
        std::atomic_thread_fence(std::memory_order_release);
        stripe.journal_entry = static_cast<std::uint32_t>(index);
        store_fields(entries_[index], value);
        stripe.journal_entry = kNoEntry;
    }

    void roll_back(Stripe& stripe) const {
        std::uint32_t index = stripe.journal_entry;
        if (index != kNoEntry && index < shape_.slots) {
            store_fields(entries_[index], stripe.backup);
        }
        stripe.journal_entry = kNoEntry;
    }

    struct Slot {
        std::size_t index = 0;
        bool found = false;    // the key was already there
        bool claimed = false;  // a free or evicted slot, to be written with the key
        bool refused = false;  // only active bans in the bucket
    };

    // The key's slot, or a free one, or an unbanned one to evict: one never banned
    // first (the least recently offending), else the banned-before one whose last
    // activity (its last offence or the end of its last ban) is oldest. So an
    // address's count of bans, which decides how long its next ban lasts, survives a
    // crowd of one-time offenders. The caller holds the bucket's stripe.
    Slot find_or_claim(std::size_t bucket, const Key& key, std::int64_t now, bool claim) const {
        std::size_t first = bucket * kBucketSize;
        Slot victim;
        std::uint64_t victim_rank = UINT64_MAX;
        for (std::size_t i = first; i < first + kBucketSize; ++i) {
            const Entry& e = entries_[i];
            if (e.used.load(kRelaxed) == 0) {
                return claim ? Slot{i, false, true, false} : Slot{};
            }
            if (e.key[0].load(kRelaxed) == key.half[0] && e.key[1].load(kRelaxed) == key.half[1]) {
                return Slot{i, true, false, false};
            }
            std::int64_t until = e.ban_until.load(kRelaxed);
            if (until > now) {
                continue;  // an active ban is never evicted
            }
            std::uint64_t activity = e.last_offence.load(kRelaxed);
            bool banned_before = e.times_banned.load(kRelaxed) > 0;
            if (banned_before) {
                activity = std::max<std::uint64_t>(activity, stored_time(until));
            }
            std::uint64_t rank = (std::uint64_t{banned_before} << 32) | activity;
            if (!victim.claimed || rank < victim_rank) {
                victim = Slot{i, false, true, false};
                victim_rank = rank;
            }
        }
        if (!claim) {
            return Slot{};
        }
        if (!victim.claimed) {
            h_->refused_full.fetch_add(1, kRelaxed);
            return Slot{0, false, false, true};
        }
        h_->evictions.fetch_add(1, kRelaxed);
        return victim;
    }

    // Lookup only, lock-free: the key's entry value if present.
    bool lookup(const Key& key, EntryValue& out) const {
        std::size_t first = bucket_of(key) * kBucketSize;
        for (std::size_t i = first; i < first + kBucketSize; ++i) {
            EntryValue v = read(i);
            if (!v.used) {
                return false;
            }
            if (v.key[0] == key.half[0] && v.key[1] == key.half[1]) {
                out = v;
                return true;
            }
        }
        return false;
    }

    // banned()'s path: only the key and ban_until of each probed entry.
    bool banned(const Key& key, std::int64_t now) const {
        std::size_t first = bucket_of(key) * kBucketSize;
        for (std::size_t i = first; i < first + kBucketSize; ++i) {
            const Entry& e = entries_[i];
            for (int attempt = 0;; ++attempt) {
                std::uint32_t before = e.seq.load(std::memory_order_acquire);
                if ((before & 1u) == 0) {
                    std::uint8_t used = e.used.load(kRelaxed);
                    bool match = e.key[0].load(kRelaxed) == key.half[0] &&
                                 e.key[1].load(kRelaxed) == key.half[1];
                    std::int64_t until = e.ban_until.load(kRelaxed);
                    std::atomic_thread_fence(std::memory_order_acquire);
                    if (e.seq.load(kRelaxed) == before) {
                        if (!used) {
                            return false;
                        }
                        if (match) {
                            return until > now;
                        }
                        break;
                    }
                }
                if (attempt >= 64) {
                    // A writer that does not finish: wait for it properly (or repair).
                    EntryValue v = read(i);
                    if (!v.used) {
                        return false;
                    }
                    if (v.key[0] == key.half[0] && v.key[1] == key.half[1]) {
                        return v.ban_until > now;
                    }
                    break;
                }
            }
        }
        return false;
    }

  private:
    RegionHeader* h_;
    Shape shape_;
    Stripe* stripes_;
    Entry* entries_;
};

// The header's plain fields, read once: another process may change the region
// while it is checked, and only this copy is trusted afterwards.
struct HeaderSnapshot {
    std::uint64_t magic, capacity, slots, buckets, stripes, region_size, hash_seed;
    std::uint64_t stripes_offset, entries_offset;
    std::uint32_t layout_version, entry_size;
};

HeaderSnapshot snapshot(const RegionHeader& h) {
    const volatile RegionHeader& v = h;
    return {v.magic,          v.capacity,       v.slots,     v.buckets,
            v.stripes,        v.region_size,    v.hash_seed, v.stripes_offset,
            v.entries_offset, v.layout_version, v.entry_size};
}

// The copy describes the region a table of `capacity` addresses has, in `bytes`.
bool header_matches(const HeaderSnapshot& h, std::size_t capacity, std::size_t bytes) {
    if (h.magic != kMagic || h.layout_version != kLayoutVersion || h.entry_size != sizeof(Entry) ||
        h.capacity != capacity || capacity == 0 || capacity > UINT32_MAX / 2) {
        return false;
    }
    Geometry g = geometry_for(capacity);
    return h.slots == g.slots && h.buckets == g.buckets && h.stripes == g.stripes &&
           h.region_size == g.region_size && h.stripes_offset == g.stripes_offset &&
           h.entries_offset == g.entries_offset && g.region_size <= bytes;
}

Shape shape_of(const Geometry& g, std::uint64_t hash_seed) {
    Shape shape = g;
    shape.hash_seed = hash_seed;
    return shape;
}

// Returns the hash seed it chose.
std::uint64_t format_region(void* base, std::size_t capacity) {
    Geometry g = geometry_for(capacity);
    std::memset(base, 0, g.region_size);
    auto* h = new (base) RegionHeader{};
    h->layout_version = kLayoutVersion;
    h->entry_size = sizeof(Entry);
    h->capacity = capacity;
    h->slots = g.slots;
    h->buckets = g.buckets;
    h->stripes = g.stripes;
    h->region_size = g.region_size;
    std::uint64_t seed = shm::random_seed();
    h->hash_seed = seed;
    h->stripes_offset = g.stripes_offset;
    h->entries_offset = g.entries_offset;
    auto* bytes = static_cast<std::byte*>(base);
    for (std::size_t i = 0; i < g.stripes; ++i) {
        auto* stripe = new (bytes + g.stripes_offset + i * sizeof(Stripe)) Stripe{};
        shm::init_robust_mutex(&stripe->mutex);
        stripe->journal_entry = kNoEntry;
    }
    for (std::size_t i = 0; i < g.slots; ++i) {
        new (bytes + g.entries_offset + i * sizeof(Entry)) Entry{};
    }
    // The magic last: a region formatted halfway never matches.
    std::atomic_thread_fence(std::memory_order_release);
    h->magic = kMagic;
    return seed;
}

EntryView view_of(const EntryValue& v, std::int64_t now, std::uint32_t findtime) {
    EntryView view;
    view.address = Key{{v.key[0], v.key[1]}}.address();
    view.last_offence = v.last_offence;
    view.in_window = ring_in_window(v, now, findtime);
    if (v.ban_until > now) {
        view.banned_since = v.banned_since;
        view.banned_until = v.ban_until;
        view.reason = static_cast<BanReason>(v.reason);
        view.httpd_only = v.httpd_only != 0;
    }
    view.times_banned = v.times_banned;
    view.offences = v.offences_total;
    return view;
}

}  // namespace

std::size_t WindowTable::region_size(std::size_t capacity) noexcept {
    return geometry_for(capacity).region_size;
}

std::pair<WindowTable, WindowTable::Attach> WindowTable::attach(void* base, std::size_t bytes,
                                                                std::size_t capacity) {
    if (capacity == 0 || capacity > UINT32_MAX / 2) {
        throw std::invalid_argument("WindowTable capacity out of range");
    }
    if (base == nullptr || reinterpret_cast<std::uintptr_t>(base) % 64 != 0) {
        throw std::invalid_argument("WindowTable region must be 64-byte aligned");
    }
    if (bytes < region_size(capacity)) {
        throw std::invalid_argument("WindowTable region too small for its capacity");
    }
    auto* header = static_cast<Header*>(base);
    Geometry g = geometry_for(capacity);
    HeaderSnapshot seen = snapshot(*header);
    if (header_matches(seen, capacity, bytes)) {
        return {WindowTable(header, shape_of(g, seen.hash_seed)), Attach::Reused};
    }
    std::uint64_t seed = format_region(base, capacity);
    return {WindowTable(header, shape_of(g, seed)), Attach::Initialised};
}

std::optional<WindowTable> WindowTable::open(void* base, std::size_t bytes) noexcept {
    if (base == nullptr || reinterpret_cast<std::uintptr_t>(base) % 64 != 0 ||
        bytes < sizeof(RegionHeader)) {
        return std::nullopt;
    }
    auto* header = static_cast<Header*>(base);
    HeaderSnapshot seen = snapshot(*header);
    if (!header_matches(seen, seen.capacity, bytes)) {
        return std::nullopt;
    }
    return WindowTable(header, shape_of(geometry_for(seen.capacity), seen.hash_seed));
}

RecordOutcome WindowTable::record(const Address& address, std::int64_t now, std::uint32_t count,
                                  WindowRule rule) {
    TableAccess table(header_, shape_);
    Key key = Key::of(address);
    std::size_t bucket = table.bucket_of(key);
    TableAccess::StripeLock lock(table, table.stripe_of_bucket(bucket));
    RecordOutcome outcome;
    if (!lock.locked()) {
        outcome.refused = true;
        return outcome;
    }
    auto slot = table.find_or_claim(bucket, key, now, count > 0);
    if (slot.refused) {
        outcome.refused = true;
        return outcome;
    }
    if (!slot.found && !slot.claimed) {
        return outcome;  // count == 0 for an unknown address
    }
    EntryValue v = slot.found ? load_fields(table.entry(slot.index)) : fresh_value(key);
    std::uint32_t earlier = ring_in_window(v, now, rule.findtime);
    outcome.in_window = saturating_add(earlier, count);
    outcome.reached = outcome.in_window >= rule.maxretry;
    if (count > 0) {
        std::uint32_t t = stored_time(now);
        ring_add(v, t, count);
        v.last_offence = std::max(v.last_offence, t);
        v.offences_total = saturating_add(v.offences_total, count);
        table.write(slot.index, v);
        header_->offences.fetch_add(count, kRelaxed);
    }
    return outcome;
}

bool WindowTable::ban(const Address& address, std::int64_t now, std::int64_t until,
                      BanReason reason, BanScope scope) {
    TableAccess table(header_, shape_);
    Key key = Key::of(address);
    std::size_t bucket = table.bucket_of(key);
    TableAccess::StripeLock lock(table, table.stripe_of_bucket(bucket));
    if (!lock.locked() || until <= now) {
        return false;
    }
    auto slot = table.find_or_claim(bucket, key, now, true);
    if (slot.refused) {
        return false;
    }
    EntryValue v = slot.found ? load_fields(table.entry(slot.index)) : fresh_value(key);
    bool newly = v.ban_until <= now;
    if (newly) {
        v.ban_until = until;
        v.banned_since = stored_time(now);
        v.reason = static_cast<std::uint8_t>(reason);
        v.httpd_only = scope == BanScope::HttpdOnly ? 1 : 0;
        v.times_banned = saturating_add(v.times_banned, 1);
        v.ring_size = 0;  // as fail2ban: a ban consumes the offences that led to it
    } else if (until > v.ban_until) {
        v.ban_until = until;
    } else {
        return false;
    }
    table.write(slot.index, v);
    return newly;
}

bool WindowTable::unban(const Address& address, std::int64_t now) {
    TableAccess table(header_, shape_);
    Key key = Key::of(address);
    std::size_t bucket = table.bucket_of(key);
    TableAccess::StripeLock lock(table, table.stripe_of_bucket(bucket));
    if (!lock.locked()) {
        return false;
    }
    auto slot = table.find_or_claim(bucket, key, now, false);
    if (!slot.found) {
        return false;
    }
    EntryValue v = load_fields(table.entry(slot.index));
    bool was_banned = v.ban_until > now;
    // The slot stays keyed (slots are never emptied); with no offences and no ban it
    // is the first to be evicted.
    v.ban_until = 0;
    v.banned_since = 0;
    v.reason = static_cast<std::uint8_t>(BanReason::None);
    v.ring_size = 0;
    table.write(slot.index, v);
    return was_banned;
}

bool WindowTable::banned(const Address& address, std::int64_t now) const noexcept {
    return TableAccess(header_, shape_).banned(Key::of(address), now);
}

std::uint32_t WindowTable::times_banned(const Address& address) const noexcept {
    EntryValue v;
    if (!TableAccess(header_, shape_).lookup(Key::of(address), v)) {
        return 0;
    }
    return v.times_banned;
}

void WindowTable::visit_saved(void (*fn)(void*, const SavedEntry&), void* ctx) const {
    TableAccess table(header_, shape_);
    for (std::size_t i = 0; i < table.slots(); ++i) {
        EntryValue v = table.read(i);
        if (!v.used) {
            continue;
        }
        SavedEntry saved;
        saved.address = Key{{v.key[0], v.key[1]}}.address();
        saved.ban_until = v.ban_until;
        saved.banned_since = v.banned_since;
        saved.last_offence = v.last_offence;
        saved.reason = v.reason <= static_cast<std::uint8_t>(BanReason::Manual)
                           ? static_cast<BanReason>(v.reason)
                           : BanReason::Manual;
        saved.httpd_only = v.httpd_only != 0;
        saved.times_banned = v.times_banned;
        saved.offences = v.offences_total;
        saved.ring_size =
            static_cast<std::uint8_t>(std::min<std::uint32_t>(v.ring_size, kRingSize));
        std::copy(v.ring, v.ring + saved.ring_size, saved.ring);
        fn(ctx, saved);
    }
}

bool WindowTable::restore(const SavedEntry& saved, std::int64_t now) {
    static_assert(sizeof(SavedEntry::ring) / sizeof(SavedEntry::ring[0]) == kRingSize);
    TableAccess table(header_, shape_);
    Key key = Key::of(saved.address);
    std::size_t bucket = table.bucket_of(key);
    TableAccess::StripeLock lock(table, table.stripe_of_bucket(bucket));
    if (!lock.locked()) {
        return false;
    }
    auto slot = table.find_or_claim(bucket, key, now, true);
    if (slot.refused) {
        return false;
    }
    EntryValue v = slot.found ? load_fields(table.entry(slot.index)) : fresh_value(key);
    if (saved.ban_until > v.ban_until) {
        v.ban_until = saved.ban_until;
        v.banned_since = stored_time(saved.banned_since);
        v.reason = static_cast<std::uint8_t>(std::min(saved.reason, BanReason::Manual));
        v.httpd_only = saved.httpd_only ? 1 : 0;
    }
    // A ban is always counted (audit()'s invariant), even from a file that says 0.
    v.times_banned =
        std::max({v.times_banned, saved.times_banned, std::uint32_t{v.ban_until != 0 ? 1u : 0u}});
    v.offences_total = std::max(v.offences_total, saved.offences);
    // Offences only into an empty ring: restoring the same entry twice must not count
    // its offences twice.
    std::uint32_t count =
        v.ring_size == 0 ? std::min<std::uint32_t>(saved.ring_size, kRingSize) : 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint32_t t = std::min(saved.ring[i], stored_time(saved.last_offence));
        ring_add(v, t, 1);  // keeps the newest kRingSize of both
    }
    v.last_offence = std::max(v.last_offence, stored_time(saved.last_offence));
    table.write(slot.index, v);
    return true;
}

void WindowTable::visit_entries(std::int64_t now, std::uint32_t findtime,
                                void (*fn)(void*, const EntryView&), void* ctx) const {
    TableAccess table(header_, shape_);
    for (std::size_t i = 0; i < table.slots(); ++i) {
        EntryValue v = table.read(i);
        if (v.used) {
            fn(ctx, view_of(v, now, findtime));
        }
    }
}

void WindowTable::copy_from(const WindowTable& other, std::int64_t now) {
    TableAccess from(other.header_, other.shape_);
    TableAccess to(header_, shape_);
    for (std::size_t i = 0; i < from.slots(); ++i) {
        EntryValue v = from.read(i);
        if (!v.used) {
            continue;
        }
        Key key{{v.key[0], v.key[1]}};
        std::size_t bucket = to.bucket_of(key);
        TableAccess::StripeLock lock(to, to.stripe_of_bucket(bucket));
        if (!lock.locked()) {
            continue;
        }
        auto slot = to.find_or_claim(bucket, key, now, true);
        if (!slot.refused) {
            to.write(slot.index, v);
        }
    }
}

// Moving the bucket's last used entry into the released slot keeps used slots a prefix
// of the bucket. A lock-free reader looking for that moved key in the nanoseconds
// between the two writes can miss it once (it read the old slot before the move and
// the emptied one after); the moved key is some other address of the bucket, and a
// missed banned() answers one request of it as not banned, once.
std::size_t WindowTable::fold(const Cidr& prefix) {
    TableAccess table(header_, shape_);
    // The prefix as a mask over the two key halves (an IPv4 prefix counts from bit 96 of
    // the mapped form, so the family is in the mask): two ANDs a slot.
    Address mask;
    unsigned bits = std::min(prefix.network.is_ipv4() ? 96 + prefix.prefix : prefix.prefix, 128u);
    for (unsigned i = 0; i < 16; ++i) {
        unsigned ones = bits > i * 8 ? std::min(bits - i * 8, 8u) : 0;
        mask.bytes[i] = static_cast<std::uint8_t>(0xff00u >> ones);
    }
    Key m = Key::of(mask), net = Key::of(prefix.network.masked(prefix.prefix));
    auto inside = [&](std::uint64_t k0, std::uint64_t k1) {
        return (k0 & m.half[0]) == net.half[0] && (k1 & m.half[1]) == net.half[1];
    };
    std::size_t released = 0;
    for (std::size_t bucket = 0; bucket < table.buckets(); ++bucket) {
        std::size_t first = bucket * kBucketSize;
        bool member = false;  // a hint from racy loads of the keys; the lock decides
        for (std::size_t i = first; i < first + kBucketSize && !member; ++i) {
            const Entry& e = table.entry(i);
            if (!e.used.load(kRelaxed)) {
                break;
            }
            member = inside(e.key[0].load(kRelaxed), e.key[1].load(kRelaxed));
        }
        if (!member) {
            continue;
        }
        TableAccess::StripeLock lock(table, table.stripe_of_bucket(bucket));
        if (!lock.locked()) {
            continue;
        }
        std::size_t end = first;
        while (end < first + kBucketSize && table.entry(end).used.load(kRelaxed)) {
            ++end;
        }
        for (std::size_t i = first; i < end;) {
            EntryValue v = load_fields(table.entry(i));
            if (!inside(v.key[0], v.key[1])) {
                ++i;
                continue;
            }
            std::size_t last = end - 1;
            if (last != i) {
                table.write(i, load_fields(table.entry(last)));
            }
            table.write(last, EntryValue{});
            --end;
            ++released;
        }
    }
    return released;
}

TableStats WindowTable::stats(std::int64_t now) const noexcept {
    TableAccess table(header_, shape_);
    TableStats stats;
    stats.capacity = table.slots();
    for (std::size_t i = 0; i < table.slots(); ++i) {
        const Entry& e = table.entry(i);
        if (e.used.load(kRelaxed)) {
            ++stats.used;
            stats.banned += e.ban_until.load(kRelaxed) > now ? 1 : 0;
        }
    }
    stats.evictions = header_->evictions.load(kRelaxed);
    stats.refused_full = header_->refused_full.load(kRelaxed);
    stats.offences = header_->offences.load(kRelaxed);
    stats.lock_recoveries = header_->lock_recoveries.load(kRelaxed);
    return stats;
}

std::size_t WindowTable::capacity() const noexcept {
    return shape_.slots;
}

std::string WindowTable::audit() const {
    TableAccess table(header_, shape_);
    for (std::size_t s = 0; s < table.stripes(); ++s) {
        const Stripe& stripe = table.stripe_of_bucket(s);
        if (stripe.journal_entry != kNoEntry) {
            return "stripe " + std::to_string(s) + " has an unfinished write";
        }
    }
    for (std::size_t bucket = 0; bucket < table.buckets(); ++bucket) {
        bool seen_empty = false;
        std::size_t first = bucket * kBucketSize;
        for (std::size_t i = first; i < first + kBucketSize; ++i) {
            std::string where = "entry " + std::to_string(i) + ": ";
            const Entry& e = table.entry(i);
            if (e.seq.load(std::memory_order_acquire) & 1u) {
                return where + "write in progress (odd sequence)";
            }
            EntryValue v = load_fields(e);
            if (v.used > 1) {
                return where + "bad used flag";
            }
            if (!v.used) {
                seen_empty = true;
                continue;
            }
            if (seen_empty) {
                return where + "used after an empty slot of its bucket";
            }
            Key key{{v.key[0], v.key[1]}};
            if (table.bucket_of(key) != bucket) {
                return where + "key in the wrong bucket";
            }
            for (std::size_t j = first; j < i; ++j) {
                const Entry& other = table.entry(j);
                if (other.key[0].load(kRelaxed) == v.key[0] &&
                    other.key[1].load(kRelaxed) == v.key[1]) {
                    return where + "duplicate key";
                }
            }
            if (v.ring_size > kRingSize) {
                return where + "ring size out of range";
            }
            if (v.reason > static_cast<std::uint8_t>(BanReason::Manual)) {
                return where + "bad ban reason";
            }
            for (std::uint32_t r = 0; r < v.ring_size; ++r) {
                if (v.ring[r] > v.last_offence) {
                    return where + "offence newer than the last offence";
                }
            }
            if (v.ban_until != 0 && v.times_banned == 0) {
                return where + "banned but never counted as banned";
            }
        }
    }
    return {};
}

}  // namespace xmlrpcguard
