// The bytes of a WindowTable region. Internal to the core (and white-box tests): every
// struct here lives in memory shared by many processes, so it holds offsets and plain
// numbers only, and each says who writes it and how.
//
// Region: [RegionHeader][Stripe x stripes][Entry x slots], each part 64-byte aligned.
// Entries are grouped in buckets of kBucketSize; an address hashes to one bucket and
// lives in one of its slots. Used slots of a bucket are always a prefix of it: a slot
// is never emptied, only re-keyed (eviction), so a lookup stops at the first empty one.
#pragma once

#include <pthread.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard::window_table_layout {

constexpr std::uint64_t kMagic = 0x31544757'47525800;  // "\0XRGWGT1" little-endian
constexpr std::uint32_t kLayoutVersion = 1;
constexpr std::size_t kBucketSize = 8;
constexpr std::size_t kMaxStripes = 512;
constexpr std::uint32_t kRingSize = WindowTable::kMaxRetryLimit;
constexpr std::uint32_t kNoEntry = UINT32_MAX;

// Written once by attach() (in httpd: the parent, before any child exists); read-only
// afterwards. The counters are bumped by any process with relaxed atomic adds.
struct alignas(64) RegionHeader {
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t entry_size;
    std::uint64_t capacity;  // as asked by the caller of attach()
    std::uint64_t slots;     // buckets * kBucketSize
    std::uint64_t buckets;
    std::uint64_t stripes;
    std::uint64_t region_size;
    std::uint64_t hash_seed;  // random per formatting: addresses cannot be aimed at one bucket
    std::uint64_t stripes_offset;
    std::uint64_t entries_offset;

    alignas(64) std::atomic<std::uint64_t> evictions;
    std::atomic<std::uint64_t> refused_full;
    std::atomic<std::uint64_t> offences;
    std::atomic<std::uint64_t> lock_recoveries;
};

// One address, as writers compute it: a plain value, copied in and out of an Entry.
struct EntryValue {
    std::uint64_t key[2];
    std::int64_t ban_until;  // 0 = never banned or unbanned
    std::uint32_t banned_since;
    std::uint32_t last_offence;
    std::uint32_t offences_total;  // saturating; every offence record() accepted
    std::uint32_t times_banned;
    std::uint8_t used;
    std::uint8_t reason;
    std::uint8_t httpd_only;  // a ban the kernel must not hold (BanScope::HttpdOnly)
    std::uint8_t ring_size;   // valid times in ring[0, ring_size)
    // The ring_size most recent offence times (unordered): when full, a newer offence
    // replaces the oldest. Times are unsigned 32-bit seconds since the epoch (to 2106).
    std::uint32_t ring[kRingSize];
};

// One slot of the table. Writers hold the slot's stripe mutex and publish a whole
// EntryValue under the seqlock `seq` (odd while a write is in progress). Readers take
// no lock: they copy the fields and retry if `seq` changed or was odd. Every field is
// an atomic accessed relaxed (plain moves on x86-64) so concurrent reads are defined
// behaviour; the fences around `seq` give the ordering.
struct alignas(64) Entry {
    std::atomic<std::uint32_t> seq;
    std::atomic<std::uint32_t> times_banned;
    std::atomic<std::uint64_t> key[2];
    std::atomic<std::int64_t> ban_until;  // banned() reads it with one load
    std::atomic<std::uint32_t> banned_since;
    std::atomic<std::uint32_t> last_offence;
    std::atomic<std::uint32_t> offences_total;
    std::atomic<std::uint8_t> used;
    std::atomic<std::uint8_t> reason;
    std::atomic<std::uint8_t> ring_size;
    std::atomic<std::uint8_t> httpd_only;
    std::atomic<std::uint32_t> ring[kRingSize];
};
static_assert(sizeof(Entry) == 128 && sizeof(Entry) == WindowTable::kEntryBytes);
static_assert(sizeof(std::atomic<std::uint64_t>) == 8 &&
              std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free &&
              std::atomic<std::uint8_t>::is_always_lock_free);

// A lock stripe: a robust process-shared mutex guarding buckets b with b % stripes ==
// index, and its undo journal. Only the mutex holder touches `journal_entry` and
// `backup`: before it publishes into an entry it saves the entry's old value there
// and sets `journal_entry`; it clears it after. A holder that dies mid-write leaves
// the journal set, and the next locker (EOWNERDEAD) puts the old value back.
struct alignas(64) Stripe {
    pthread_mutex_t mutex;
    std::uint32_t journal_entry;  // index of the entry being written, or kNoEntry
    EntryValue backup;
};

// The bucket an address (as its two native-endian 64-bit halves) belongs to.
inline std::uint64_t mix64(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}
inline std::size_t bucket_of(const Shape& shape, std::uint64_t key0, std::uint64_t key1) {
    std::uint64_t h = mix64(mix64(key0 ^ shape.hash_seed) ^ mix64(key1 + shape.hash_seed));
    return static_cast<std::size_t>((static_cast<unsigned __int128>(h) * shape.buckets) >> 64);
}

// Tests only: called inside every entry write, after half of the fields are stored,
// with the stripe locked. Lets a test kill a process in the middle of a write.
using WriteHook = void (*)();
void set_write_hook(WriteHook hook) noexcept;
// The hook set, for the other tables in shared memory (PrefixTable) to call likewise.
WriteHook write_hook() noexcept;

}  // namespace xmlrpcguard::window_table_layout
