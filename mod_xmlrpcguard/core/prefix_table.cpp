// PrefixTable: see include/xmlrpcguard/prefix_table.hpp for the rule, and
// docs/ARCHITECTURE.md ("Prefix bans") for why one lock and how an attacker would evade.
//
// Region: [Region (header, the lock and its undo journal)][Record x slots], 64-byte
// aligned. Records are grouped in buckets of kBucket; a prefix hashes (keyed with a
// random per-region seed) to one bucket. Used records are a prefix of their bucket: a
// record is never emptied, only re-keyed, so a lookup stops at the first empty one.
//
// Who writes what: the header's geometry once, by attach() in httpd's parent; records
// only under the region's one robust mutex, journalled like the WindowTable's stripes
// (the old value saved first, so a holder killed mid-write is rolled back by the next);
// counters by anyone with relaxed atomic adds. Readers never lock: each record carries a
// seqlock word. One lock is enough: a note is taken once per offending answer (rare next
// to requests) and holds the lock for well under a microsecond; the per-request path
// (banned()) reads without it.
#include "xmlrpcguard/prefix_table.hpp"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>

#include "shm_primitives.hpp"
#include "window_table_layout.hpp"

namespace xmlrpcguard {
namespace {

constexpr std::uint64_t kMagic = 0x31465250'47525800;  // "\0XRGPRF1" little-endian
constexpr std::uint32_t kLayoutVersion = 1;
constexpr std::size_t kBucket = 8;
constexpr std::uint32_t kMembers = PrefixTable::kMaxThreshold;
constexpr std::uint32_t kNone = UINT32_MAX;
constexpr auto kRelaxed = std::memory_order_relaxed;
using window_table_layout::mix64;

// One member as a writer computes it.
struct MemberValue {
    std::uint32_t fingerprint;  // keyed hash of the member key; 0 = free
    std::uint32_t last;         // its latest offence (seconds since the epoch)
    std::uint16_t offences;     // within findtime of `last`, capped at maxretry
    std::uint8_t banned;
    std::uint8_t unused;
};

// One record as writers compute it: a plain value copied in and out of a Record.
struct RecordValue {
    std::uint64_t key[2];
    std::int64_t ban_until;
    std::uint32_t banned_since;
    std::uint32_t times_banned;
    std::uint32_t last_activity;
    std::uint32_t folded;
    std::uint8_t used;
    std::uint8_t bits;  // the prefix length in its family's bits
    std::uint8_t httpd_only;
    MemberValue members[kMembers];
};

struct Member {
    std::atomic<std::uint32_t> fingerprint;
    std::atomic<std::uint32_t> last;
    std::atomic<std::uint16_t> offences;
    std::atomic<std::uint8_t> banned;
    std::atomic<std::uint8_t> unused;
};

struct alignas(64) Record {
    std::atomic<std::uint32_t> seq;  // odd while a write is in progress
    std::atomic<std::uint8_t> used;
    std::atomic<std::uint8_t> bits;
    std::atomic<std::uint8_t> httpd_only;
    std::atomic<std::uint8_t> pad;
    std::atomic<std::uint64_t> key[2];
    std::atomic<std::int64_t> ban_until;
    std::atomic<std::uint32_t> banned_since;
    std::atomic<std::uint32_t> times_banned;
    std::atomic<std::uint32_t> last_activity;
    std::atomic<std::uint32_t> folded;
    Member members[kMembers];
};
static_assert(sizeof(Record) == PrefixTable::kRecordBytes);

std::uint32_t stored_time(std::int64_t t) noexcept {
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(t, 0, UINT32_MAX));
}

struct Key {
    std::uint64_t half[2];
    std::uint8_t bits;
    static Key of(const Cidr& prefix) noexcept {
        Key key;
        std::memcpy(key.half, prefix.network.bytes.data(), sizeof key.half);
        key.bits = static_cast<std::uint8_t>(prefix.prefix);
        return key;
    }
    Cidr cidr() const noexcept {
        Cidr cidr;
        std::memcpy(cidr.network.bytes.data(), half, sizeof half);
        cidr.prefix = bits;
        return cidr;
    }
};

RecordValue load(const Record& r) {
    RecordValue v;
    v.key[0] = r.key[0].load(kRelaxed);
    v.key[1] = r.key[1].load(kRelaxed);
    v.ban_until = r.ban_until.load(kRelaxed);
    v.banned_since = r.banned_since.load(kRelaxed);
    v.times_banned = r.times_banned.load(kRelaxed);
    v.last_activity = r.last_activity.load(kRelaxed);
    v.folded = r.folded.load(kRelaxed);
    v.used = r.used.load(kRelaxed);
    v.bits = r.bits.load(kRelaxed);
    v.httpd_only = r.httpd_only.load(kRelaxed);
    for (std::uint32_t i = 0; i < kMembers; ++i) {
        v.members[i].fingerprint = r.members[i].fingerprint.load(kRelaxed);
        v.members[i].last = r.members[i].last.load(kRelaxed);
        v.members[i].offences = r.members[i].offences.load(kRelaxed);
        v.members[i].banned = r.members[i].banned.load(kRelaxed);
        v.members[i].unused = 0;
    }
    return v;
}

void store(Record& r, const RecordValue& v) {
    std::uint32_t odd = r.seq.load(kRelaxed) | 1u;
    r.seq.store(odd, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
    r.key[0].store(v.key[0], kRelaxed);
    r.key[1].store(v.key[1], kRelaxed);
    r.ban_until.store(v.ban_until, kRelaxed);
    r.banned_since.store(v.banned_since, kRelaxed);
    r.times_banned.store(v.times_banned, kRelaxed);
    if (window_table_layout::WriteHook hook = window_table_layout::write_hook()) {
        hook();  // tests: a process killed in the middle of a write
    }
    r.last_activity.store(v.last_activity, kRelaxed);
    r.folded.store(v.folded, kRelaxed);
    r.used.store(v.used, kRelaxed);
    r.bits.store(v.bits, kRelaxed);
    r.httpd_only.store(v.httpd_only, kRelaxed);
    for (std::uint32_t i = 0; i < kMembers; ++i) {
        r.members[i].fingerprint.store(v.members[i].fingerprint, kRelaxed);
        r.members[i].last.store(v.members[i].last, kRelaxed);
        r.members[i].offences.store(v.members[i].offences, kRelaxed);
        r.members[i].banned.store(v.members[i].banned, kRelaxed);
    }
    r.seq.store(odd + 1, std::memory_order_release);
}

}  // namespace

// Written once by attach() (geometry), then: the mutex and journal by its holder, the
// counters by anyone (relaxed adds).
struct PrefixTable::Region {
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t record_size;
    std::uint64_t capacity;
    std::uint64_t slots;
    std::uint64_t hash_seed;
    alignas(64) pthread_mutex_t mutex;
    std::uint32_t journal_record;  // kNone, or the record being written
    RecordValue backup;
    alignas(64) std::atomic<std::uint64_t> bans;
    std::atomic<std::uint64_t> folded;
    std::atomic<std::uint64_t> refused_full;
    std::atomic<std::uint64_t> lock_recoveries;
    std::atomic<std::uint64_t> denied;
    std::atomic<std::uint64_t> spared;
    std::atomic<std::uint64_t> detected;
    // Set by the first ban or restore: until then banned() answers after one load.
    std::atomic<std::uint32_t> armed;
};

namespace {

constexpr std::size_t round_up_64(std::size_t n) {
    return (n + 63) & ~std::size_t{63};
}
constexpr std::size_t kRecordsOffset = round_up_64(sizeof(PrefixTable::Region));

std::size_t slots_for(std::size_t capacity) {
    return std::max<std::size_t>(1, (capacity + kBucket - 1) / kBucket) * kBucket;
}

Record* records_of(PrefixTable::Region* region) {
    return reinterpret_cast<Record*>(reinterpret_cast<std::byte*>(region) + kRecordsOffset);
}

// The region's lock, held for one operation; a dead holder's half write rolled back.
class Locked {
  public:
    Locked(PrefixTable::Region& region, std::size_t slots) : region_(region) {
        timespec deadline{};
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += 1;  // a scribbled mutex must not stall anyone for good
        int rc = pthread_mutex_clocklock(&region.mutex, CLOCK_MONOTONIC, &deadline);
        if (rc == EOWNERDEAD) {
            std::uint32_t index = region.journal_record;
            if (index != kNone && index < slots) {
                store(records_of(&region)[index], region.backup);
            }
            region.journal_record = kNone;
            region.lock_recoveries.fetch_add(1, kRelaxed);
            rc = pthread_mutex_consistent(&region.mutex);
        }
        locked_ = rc == 0;
    }
    ~Locked() {
        if (locked_) {
            pthread_mutex_unlock(&region_.mutex);
        }
    }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;
    bool locked() const { return locked_; }

    void write(std::size_t index, const RecordValue& value) {
        Record& record = records_of(&region_)[index];
        region_.backup = load(record);
        std::atomic_thread_fence(std::memory_order_release);
        region_.journal_record = static_cast<std::uint32_t>(index);
        store(record, value);
        region_.journal_record = kNone;
    }

  private:
    PrefixTable::Region& region_;
    bool locked_ = false;
};

// A consistent copy without locking. A live writer holds a record for well under a
// microsecond; a word that stays odd (a writer killed mid-write, until the next locker
// rolls it back, or a scribble) costs a few yields, then the fields are taken as they
// are: nothing read from the region is more than data, and a listing of 4096 scribbled
// records must not stall the helper.
RecordValue read(const Record& r) {
    for (int attempt = 0; attempt < 72; ++attempt) {
        std::uint32_t before = r.seq.load(std::memory_order_acquire);
        if ((before & 1u) == 0) {
            RecordValue v = load(r);
            std::atomic_thread_fence(std::memory_order_acquire);
            if (r.seq.load(kRelaxed) == before) {
                return v;
            }
        }
        if (attempt >= 64) {
            sched_yield();
        }
    }
    return load(r);
}

bool matches(const RecordValue& v, const Key& key) {
    return v.key[0] == key.half[0] && v.key[1] == key.half[1] && v.bits == key.bits;
}

// Members within findtime of `now`, and their offences.
void tally(const RecordValue& v, std::int64_t now, std::uint32_t findtime, std::uint32_t cap,
           std::uint32_t& members, std::uint32_t& offences) {
    members = 0;
    offences = 0;
    std::int64_t horizon = now - static_cast<std::int64_t>(findtime);
    for (const MemberValue& m : v.members) {
        if (m.fingerprint != 0 && static_cast<std::int64_t>(m.last) > horizon) {
            ++members;
            offences += std::min<std::uint32_t>(m.banned ? cap : m.offences, cap);
        }
    }
}

}  // namespace

std::size_t PrefixTable::region_size(std::size_t capacity) noexcept {
    return kRecordsOffset + slots_for(capacity) * sizeof(Record);
}

std::pair<PrefixTable, WindowTable::Attach> PrefixTable::attach(void* base, std::size_t bytes,
                                                                std::size_t capacity) {
    if (capacity == 0 || capacity > (1u << 24)) {
        throw std::invalid_argument("PrefixTable capacity out of range");
    }
    if (base == nullptr || reinterpret_cast<std::uintptr_t>(base) % 64 != 0 ||
        bytes < region_size(capacity)) {
        throw std::invalid_argument("PrefixTable region too small or misaligned");
    }
    auto* region = static_cast<Region*>(base);
    std::size_t slots = slots_for(capacity);
    const volatile Region& seen = *region;
    if (seen.magic == kMagic && seen.layout_version == kLayoutVersion &&
        seen.record_size == sizeof(Record) && seen.capacity == capacity && seen.slots == slots) {
        return {PrefixTable(region, slots, seen.hash_seed), WindowTable::Attach::Reused};
    }
    std::memset(base, 0, region_size(capacity));
    region = new (base) Region{};
    region->layout_version = kLayoutVersion;
    region->record_size = sizeof(Record);
    region->capacity = capacity;
    region->slots = slots;
    region->hash_seed = shm::random_seed();
    shm::init_robust_mutex(&region->mutex);
    region->journal_record = kNone;
    Record* records = records_of(region);
    for (std::size_t i = 0; i < slots; ++i) {
        new (&records[i]) Record{};
    }
    std::atomic_thread_fence(std::memory_order_release);
    region->magic = kMagic;  // last: a half-formatted region never matches
    return {PrefixTable(region, slots, region->hash_seed), WindowTable::Attach::Initialised};
}

std::optional<PrefixTable> PrefixTable::open(void* base, std::size_t bytes) noexcept {
    if (base == nullptr || reinterpret_cast<std::uintptr_t>(base) % 64 != 0 ||
        bytes < sizeof(Region)) {
        return std::nullopt;
    }
    auto* region = static_cast<Region*>(base);
    const volatile Region& seen = *region;
    std::uint64_t capacity = seen.capacity;
    if (seen.magic != kMagic || seen.layout_version != kLayoutVersion ||
        seen.record_size != sizeof(Record) || capacity == 0 || capacity > (1u << 24) ||
        seen.slots != slots_for(capacity) || bytes < region_size(capacity)) {
        return std::nullopt;
    }
    return PrefixTable(region, slots_for(capacity), seen.hash_seed);
}

namespace {

// Everything that needs the handle's geometry.
struct Access {
    PrefixTable::Region* region;
    std::size_t slots;
    std::uint64_t seed;

    Record* records() const { return records_of(region); }
    std::size_t first_of(const Key& key) const {
        std::uint64_t h = mix64(mix64(key.half[0] ^ seed) ^ mix64(key.half[1] + seed + key.bits));
        std::size_t buckets = slots / kBucket;
        return static_cast<std::size_t>((static_cast<unsigned __int128>(h) * buckets) >> 64) *
               kBucket;
    }
    std::uint32_t fingerprint(const Address& member) const {
        std::uint64_t halves[2];
        std::memcpy(halves, member.bytes.data(), sizeof halves);
        std::uint32_t fp = static_cast<std::uint32_t>(mix64(mix64(halves[0] + seed) ^ halves[1]));
        return fp == 0 ? 1 : fp;
    }

    struct Slot {
        std::size_t index = 0;
        bool found = false;
        bool refused = false;
    };
    // The key's record, a free one, or the unbanned one least recently active. The
    // caller holds the lock.
    Slot find_or_claim(const Key& key, std::int64_t now, bool claim) const {
        std::size_t first = first_of(key);
        Slot victim;
        bool have_victim = false;
        std::uint32_t oldest = UINT32_MAX;
        for (std::size_t i = first; i < first + kBucket; ++i) {
            RecordValue v = load(records()[i]);
            if (!v.used) {
                return claim ? Slot{i, false, false} : Slot{0, false, true};
            }
            if (matches(v, key)) {
                return Slot{i, true, false};
            }
            if (v.ban_until > now) {
                continue;  // a running prefix ban is never evicted
            }
            if (!have_victim || v.last_activity < oldest) {
                victim = Slot{i, false, false};
                oldest = v.last_activity;
                have_victim = true;
            }
        }
        if (!claim || !have_victim) {
            if (claim) {
                region->refused_full.fetch_add(1, kRelaxed);
            }
            return Slot{0, false, true};
        }
        return victim;
    }

    bool lookup(const Key& key, RecordValue& out) const {
        std::size_t first = first_of(key);
        for (std::size_t i = first; i < first + kBucket; ++i) {
            RecordValue v = read(records()[i]);
            if (!v.used) {
                return false;
            }
            if (matches(v, key)) {
                out = v;
                return true;
            }
        }
        return false;
    }
};

RecordValue fresh(const Key& key) {
    RecordValue v{};
    v.key[0] = key.half[0];
    v.key[1] = key.half[1];
    v.bits = key.bits;
    v.used = 1;
    return v;
}

}  // namespace

PrefixNote PrefixTable::note(const Address& member, std::int64_t now, std::uint32_t count,
                             bool member_banned, const PrefixRule& rule) {
    PrefixNote result;
    result.prefix = rule.prefix_of(member);
    if (count == 0 && !member_banned) {
        return result;
    }
    Access access{region_, slots_, seed_};
    Locked lock(*region_, slots_);
    if (!lock.locked()) {
        result.refused = true;
        return result;
    }
    Key key = Key::of(result.prefix);
    auto slot = access.find_or_claim(key, now, true);
    if (slot.refused) {
        result.refused = true;
        return result;
    }
    RecordValue v = slot.found ? load(access.records()[slot.index]) : fresh(key);
    if (v.ban_until > now) {
        result.banned = true;
        return result;
    }
    std::uint32_t cap = std::max<std::uint32_t>(1, rule.maxretry);
    std::uint32_t threshold = std::clamp<std::uint32_t>(rule.threshold, 1, kMaxThreshold);
    std::uint32_t members_before = 0, offences_before = 0;
    tally(v, now, rule.findtime, cap, members_before, offences_before);
    bool due_before = members_before >= threshold && offences_before >= threshold * cap;
    std::int64_t horizon = now - static_cast<std::int64_t>(rule.findtime);
    std::uint32_t fp = access.fingerprint(member);
    std::uint32_t t = stored_time(now);
    MemberValue* slot_member = nullptr;
    for (MemberValue& m : v.members) {  // the member itself
        if (m.fingerprint == fp) {
            slot_member = &m;
            break;
        }
    }
    if (!slot_member) {  // a free place, or the member seen least recently
        slot_member = &v.members[0];
        for (MemberValue& m : v.members) {
            if (m.fingerprint == 0) {
                slot_member = &m;
                break;
            }
            if (m.last < slot_member->last) {
                slot_member = &m;
            }
        }
        *slot_member = MemberValue{fp, t, 0, 0, 0};
    }
    if (static_cast<std::int64_t>(slot_member->last) <= horizon) {
        slot_member->offences = 0;  // its earlier offences left the window
        slot_member->banned = 0;
    }
    slot_member->last = std::max(slot_member->last, t);
    slot_member->offences = static_cast<std::uint16_t>(
        std::min<std::uint32_t>(cap, std::uint32_t{slot_member->offences} + count));
    if (member_banned) {
        slot_member->banned = 1;
    }
    v.last_activity = std::max(v.last_activity, t);
    tally(v, now, rule.findtime, cap, result.members, result.offences);
    result.due = result.members >= threshold && result.offences >= threshold * cap;
    result.first_due = result.due && !due_before;
    lock.write(slot.index, v);
    return result;
}

bool PrefixTable::ban(const Cidr& prefix, std::int64_t now, std::int64_t until, BanScope scope) {
    Access access{region_, slots_, seed_};
    Locked lock(*region_, slots_);
    if (!lock.locked() || until <= now) {
        return false;
    }
    Key key = Key::of(prefix);
    auto slot = access.find_or_claim(key, now, true);
    if (slot.refused) {
        return false;
    }
    RecordValue v = slot.found ? load(access.records()[slot.index]) : fresh(key);
    bool newly = v.ban_until <= now;
    if (newly) {
        v.ban_until = until;
        v.banned_since = stored_time(now);
        v.times_banned = v.times_banned == UINT32_MAX ? UINT32_MAX : v.times_banned + 1;
        v.httpd_only = scope == BanScope::HttpdOnly ? 1 : 0;
        v.folded = 0;
        for (MemberValue& m : v.members) {
            m = MemberValue{};  // a ban consumes what led to it
        }
    } else if (until > v.ban_until) {
        v.ban_until = until;
    } else {
        return false;
    }
    v.last_activity = std::max(v.last_activity, stored_time(now));
    region_->armed.store(1, kRelaxed);
    lock.write(slot.index, v);
    if (newly) {
        region_->bans.fetch_add(1, kRelaxed);
    }
    return newly;
}

void PrefixTable::set_folded(const Cidr& prefix, std::uint32_t folded) {
    Access access{region_, slots_, seed_};
    Locked lock(*region_, slots_);
    region_->folded.fetch_add(folded, kRelaxed);
    if (!lock.locked()) {
        return;
    }
    auto slot = access.find_or_claim(Key::of(prefix), 0, false);
    if (slot.found) {
        RecordValue v = load(access.records()[slot.index]);
        v.folded = folded;
        lock.write(slot.index, v);
    }
}

bool PrefixTable::unban(const Cidr& prefix, std::int64_t now) {
    Access access{region_, slots_, seed_};
    Locked lock(*region_, slots_);
    if (!lock.locked()) {
        return false;
    }
    auto slot = access.find_or_claim(Key::of(prefix), now, false);
    if (!slot.found) {
        return false;
    }
    RecordValue v = load(access.records()[slot.index]);
    bool was = v.ban_until > now;
    v.ban_until = 0;
    v.banned_since = 0;
    lock.write(slot.index, v);
    return was;
}

std::size_t PrefixTable::unban_all(std::int64_t now) {
    Access access{region_, slots_, seed_};
    Locked lock(*region_, slots_);
    if (!lock.locked()) {
        return 0;
    }
    std::size_t lifted = 0;
    for (std::size_t i = 0; i < slots_; ++i) {
        RecordValue v = load(access.records()[i]);
        if (v.used && v.ban_until != 0) {
            lifted += v.ban_until > now ? 1 : 0;
            v.ban_until = 0;
            v.banned_since = 0;
            lock.write(i, v);
        }
    }
    return lifted;
}

bool PrefixTable::banned(const Address& address, const PrefixRule& rule,
                         std::int64_t now) const noexcept {
    if (region_->armed.load(kRelaxed) == 0) {
        return false;  // never a prefix ban since formatting: the common case, one load
    }
    Access access{region_, slots_, seed_};
    Key key = Key::of(rule.prefix_of(address));
    std::size_t first = access.first_of(key);
    for (std::size_t i = first; i < first + kBucket; ++i) {
        const Record& r = access.records()[i];
        for (int attempt = 0; attempt < 256; ++attempt) {
            std::uint32_t before = r.seq.load(std::memory_order_acquire);
            if ((before & 1u) != 0) {
                continue;  // a writer is at work: try again (at most 256 times)
            }
            std::uint8_t used = r.used.load(kRelaxed);
            bool match = r.key[0].load(kRelaxed) == key.half[0] &&
                         r.key[1].load(kRelaxed) == key.half[1] &&
                         r.bits.load(kRelaxed) == key.bits;
            std::int64_t until = r.ban_until.load(kRelaxed);
            std::atomic_thread_fence(std::memory_order_acquire);
            if (r.seq.load(kRelaxed) != before) {
                continue;
            }
            if (!used) {
                return false;
            }
            if (match) {
                return until > now;
            }
            break;
        }
    }
    return false;
}

std::uint32_t PrefixTable::times_banned(const Cidr& prefix) const noexcept {
    RecordValue v;
    Access access{region_, slots_, seed_};
    return access.lookup(Key::of(prefix), v) ? v.times_banned : 0;
}

void PrefixTable::visit_records(std::int64_t now, std::uint32_t findtime,
                                void (*fn)(void*, const PrefixView&), void* ctx) const {
    Access access{region_, slots_, seed_};
    for (std::size_t i = 0; i < slots_; ++i) {
        RecordValue v = read(access.records()[i]);
        if (!v.used) {
            continue;
        }
        PrefixView view;
        view.prefix = Key{{v.key[0], v.key[1]}, v.bits}.cidr();
        if (v.ban_until > now) {
            view.banned_since = v.banned_since;
            view.banned_until = v.ban_until;
            view.httpd_only = v.httpd_only != 0;
        }
        view.times_banned = v.times_banned;
        view.folded = v.folded;
        std::uint32_t offences = 0;
        tally(v, now, findtime, UINT16_MAX, view.members, offences);
        fn(ctx, view);
    }
}

bool PrefixTable::restore(const SavedPrefix& saved, std::int64_t now) {
    Access access{region_, slots_, seed_};
    Locked lock(*region_, slots_);
    if (!lock.locked()) {
        return false;
    }
    Key key = Key::of(saved.prefix);
    auto slot = access.find_or_claim(key, now, true);
    if (slot.refused) {
        return false;
    }
    RecordValue v = slot.found ? load(access.records()[slot.index]) : fresh(key);
    if (saved.ban_until > v.ban_until) {
        v.ban_until = saved.ban_until;
        v.banned_since = stored_time(saved.banned_since);
        v.httpd_only = saved.httpd_only ? 1 : 0;
    }
    v.times_banned =
        std::max({v.times_banned, saved.times_banned, std::uint32_t{v.ban_until != 0 ? 1u : 0u}});
    v.last_activity = std::max(v.last_activity, stored_time(saved.banned_since));
    region_->armed.store(1, kRelaxed);
    lock.write(slot.index, v);
    return true;
}

PrefixStats PrefixTable::stats(std::int64_t now) const noexcept {
    Access access{region_, slots_, seed_};
    PrefixStats stats;
    stats.capacity = slots_;
    for (std::size_t i = 0; i < slots_; ++i) {
        const Record& r = access.records()[i];
        if (r.used.load(kRelaxed)) {
            ++stats.used;
            stats.banned += r.ban_until.load(kRelaxed) > now ? 1 : 0;
        }
    }
    stats.bans = region_->bans.load(kRelaxed);
    stats.folded = region_->folded.load(kRelaxed);
    stats.refused_full = region_->refused_full.load(kRelaxed);
    stats.denied = region_->denied.load(kRelaxed);
    stats.spared = region_->spared.load(kRelaxed);
    stats.detected = region_->detected.load(kRelaxed);
    return stats;
}

void PrefixTable::count(PrefixCounter counter) noexcept {
    switch (counter) {
        case PrefixCounter::Denied:
            region_->denied.fetch_add(1, kRelaxed);
            break;
        case PrefixCounter::Spared:
            region_->spared.fetch_add(1, kRelaxed);
            break;
        case PrefixCounter::Detected:
            region_->detected.fetch_add(1, kRelaxed);
            break;
    }
}

std::string PrefixTable::audit() const {
    Access access{region_, slots_, seed_};
    if (region_->journal_record != kNone) {
        return "unfinished write";
    }
    for (std::size_t first = 0; first < slots_; first += kBucket) {
        bool seen_empty = false;
        for (std::size_t i = first; i < first + kBucket; ++i) {
            std::string where = "record " + std::to_string(i) + ": ";
            const Record& r = access.records()[i];
            if (r.seq.load(std::memory_order_acquire) & 1u) {
                return where + "write in progress";
            }
            RecordValue v = load(r);
            if (!v.used) {
                seen_empty = true;
                continue;
            }
            if (seen_empty) {
                return where + "used after an empty record of its bucket";
            }
            Key key{{v.key[0], v.key[1]}, v.bits};
            if (access.first_of(key) != first) {
                return where + "key in the wrong bucket";
            }
            Cidr cidr = key.cidr();
            if (cidr.network.masked(cidr.prefix) != cidr.network) {
                return where + "bits past the prefix";
            }
            if (v.ban_until != 0 && v.times_banned == 0) {
                return where + "banned but never counted";
            }
        }
    }
    return {};
}

bool covers_protected(const Cidr& prefix, const AddressSet& protected_set, std::string& why) {
    for (const Cidr& block : protected_set.blocks()) {
        if (block.network.is_ipv4() != prefix.network.is_ipv4()) {
            continue;
        }
        // Either holds the other's network address: they overlap.
        if (prefix.contains(block.network) || block.contains(prefix.network)) {
            why = block.to_string();
            return true;
        }
    }
    return false;
}

}  // namespace xmlrpcguard
