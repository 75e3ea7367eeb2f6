// WindowTable: per-address sliding windows of offences and bans, held in a memory
// region the caller provides (apr_shm in httpd; plain memory or a shared mmap in
// tests) and used by many processes and threads at once. The region holds no
// pointers, only offsets, and starts with a header (magic, layout version,
// capacity, sizes), so an incompatible region is re-initialised, never misread.
//
// A WindowTable object is a small handle onto the region: copy it freely; every
// process that maps the region at any address makes its own handle with attach().
//
// Shared memory is data, never geometry: any process that maps the region (httpd's
// children, and so PHP's user on Debian) could write it. A handle takes the region's
// geometry once, from the capacity its owner was configured with, and checks the
// header against it then; sizes, offsets and the hash seed live in the handle, and
// nothing read from the region later sizes a loop, an index or a division (an index
// read back, such as a stripe's journal entry, is bounds-checked first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/address_set.hpp"

namespace xmlrpcguard {

namespace window_table_layout {
// Where the parts of a region lie, in the handle's own memory (see above).
struct Shape {
    std::size_t buckets = 0;
    std::size_t slots = 0;
    std::size_t stripes = 0;
    std::size_t stripes_offset = 0;
    std::size_t entries_offset = 0;
    std::uint64_t hash_seed = 0;
};
}  // namespace window_table_layout

// fail2ban semantics: ban when at least `maxretry` offences fall within the last
// `findtime` seconds.
struct WindowRule {
    std::uint32_t findtime = 3600;
    std::uint32_t maxretry = 3;
};

enum class BanReason : std::uint8_t { None, AuthFailure, PingbackError, LoginFailure, Manual };

// Where a ban is enforced. HttpdOnly: httpd denies the client (403) but the kernel set
// must not hold it, since the client's packets come from a proxy (its address was
// forwarded) or its vhost says XmlRpcGuardKernelBan Off. The helper's reconcile skips
// such bans. A process that writes the region could set the mark on a ban; it can
// only keep a ban out of later re-adds, never take one out of the kernel.
enum class BanScope : std::uint8_t { Kernel, HttpdOnly };
const char* to_string(BanReason reason) noexcept;

struct RecordOutcome {
    // Offences of this address within findtime, this call's included. Exact while the
    // earlier ones number fewer than kMaxRetryLimit; past that the earlier part is
    // counted as kMaxRetryLimit (a lower bound), which decides every allowed maxretry.
    std::uint32_t in_window = 0;
    bool reached = false;  // in_window >= maxretry
    bool refused = false;  // the address's neighbourhood held only active bans: nothing counted
};

// A consistent copy of one entry, for listing.
struct EntryView {
    Address address;
    std::int64_t last_offence = 0;  // seconds since the epoch; 0 = never
    std::uint32_t in_window = 0;    // offences within the findtime given to for_each
    std::int64_t banned_since = 0;  // 0 = not banned
    std::int64_t banned_until = 0;  // 0 = not banned
    BanReason reason = BanReason::None;
    bool httpd_only = false;  // a ban the kernel must not hold (BanScope::HttpdOnly)
    std::uint32_t times_banned = 0;
    std::uint32_t offences = 0;  // every offence counted while the address was held (saturating)
};

// One entry whole, as the state file keeps it across a stop of httpd (the helper saves
// and loads it). Times are seconds since the epoch; 0 = never.
struct SavedEntry {
    Address address;
    std::int64_t ban_until = 0;  // may lie in the past: the count outlives the ban
    std::int64_t banned_since = 0;
    std::int64_t last_offence = 0;
    BanReason reason = BanReason::None;
    bool httpd_only = false;
    std::uint32_t times_banned = 0;
    std::uint32_t offences = 0;
    std::uint8_t ring_size = 0;   // valid times in ring[0, ring_size)
    std::uint32_t ring[20] = {};  // the latest offence times (kMaxRetryLimit of them)
};

struct TableStats {
    std::size_t capacity = 0;
    std::size_t used = 0;
    std::size_t banned = 0;          // entries with banned_until > now
    std::uint64_t evictions = 0;     // unbanned entries evicted to make room
    std::uint64_t refused_full = 0;  // records refused because only bans remained
    std::uint64_t offences = 0;      // offences counted by record() since the region was formatted
    std::uint64_t lock_recoveries = 0;  // stripes repaired after their holder died
};

class WindowTable {
  public:
    // The largest maxretry the table counts exactly: it keeps this many most recent
    // offence times per address (what fits a 128-byte entry); the directive refuses
    // larger values.
    static constexpr std::uint32_t kMaxRetryLimit = 20;

    // Bytes one address occupies in the region (the per-table header and the lock
    // stripes come on top: see region_size()).
    static constexpr std::size_t kEntryBytes = 128;

    // Bytes a region must have for `capacity` addresses (header included).
    static std::size_t region_size(std::size_t capacity) noexcept;

    enum class Attach : std::uint8_t {
        Reused,       // the header matched: existing entries kept
        Initialised,  // blank or incompatible region: formatted anew
    };

    // Attaches to `base` (at least region_size(capacity) bytes, suitably aligned
    // for 64-byte cache lines). Must not race with another attach to the same
    // region; httpd does it once in the parent.
    static std::pair<WindowTable, Attach> attach(void* base, std::size_t bytes,
                                                 std::size_t capacity);

    // Opens a region formatted by attach() elsewhere, without changing it; nullopt
    // if the header does not match this layout.
    static std::optional<WindowTable> open(void* base, std::size_t bytes) noexcept;

    // Adds `count` offences at time `now` (seconds since the epoch). Never fails:
    // when the table is full it evicts an unbanned entry near the key, one that was
    // never banned first (the least recently offending), and only when every other
    // one was banned before, the one whose last ban or offence is oldest: a repeat
    // count is worth more than one offence. When only bans remain the record is
    // refused (counted in stats) and the outcome says not reached.
    RecordOutcome record(const Address& address, std::int64_t now, std::uint32_t count,
                         WindowRule rule);

    // Bans until `until`. Returns true when this call banned an address that was
    // not banned at `now` (so exactly one caller reports a new ban); a ban of an
    // already banned address extends it to the later `until`.
    bool ban(const Address& address, std::int64_t now, std::int64_t until, BanReason reason,
             BanScope scope = BanScope::Kernel);

    // Lifts a ban and forgets the window. Returns true if the address was banned.
    bool unban(const Address& address, std::int64_t now);

    // Runs on every request of a guarded vhost: lock-free, allocation-free.
    bool banned(const Address& address, std::int64_t now) const noexcept;

    // How many times the address was banned while the table held it (lock-free read;
    // 0 for an unknown address): the next ban is number times_banned() + 1.
    std::uint32_t times_banned(const Address& address) const noexcept;

    // Every used entry whole (for the state file), each one consistent.
    template <class Visitor>
    void for_each_saved(Visitor&& visit) const {
        visit_saved(&call_saved_visitor<Visitor>, &visit);
    }

    // Puts a saved entry back (the helper, at the first start after a stop). Merges with
    // an entry the table already holds: the later ban end, the larger counts, the newer
    // offences. False when its bucket holds only active bans (nothing restored).
    bool restore(const SavedEntry& saved, std::int64_t now);

    // Copies of every used entry, each one consistent, safe while others write.
    template <class Visitor>
    void for_each(std::int64_t now, std::uint32_t findtime, Visitor&& visit) const {
        visit_entries(now, findtime, &call_visitor<Visitor>, &visit);
    }

    // Releases every entry whose key lies in `prefix` (a prefix ban covers them now):
    // their slots are emptied, the bucket's used slots kept a prefix of it, so the
    // table takes new addresses there again. Returns how many were released. O(slots);
    // a bucket is locked only if a lock-free look found a member in it.
    std::size_t fold(const Cidr& prefix);

    // Carries every entry of `other` over (a resized table after a restart).
    void copy_from(const WindowTable& other, std::int64_t now);

    // Scans the whole table (status page, ctl tool): O(capacity).
    TableStats stats(std::int64_t now) const noexcept;
    // Addresses the table holds: the configured capacity rounded up to whole buckets.
    std::size_t capacity() const noexcept;

    // Checks every invariant of the layout (no torn or misplaced entry, no duplicate
    // key); returns the first violation found, or an empty string. For tests and the
    // ctl tool; meaningful when no writer is mid-update.
    std::string audit() const;

  private:
    struct Header;
    using Shape = window_table_layout::Shape;
    WindowTable(Header* header, const Shape& shape) noexcept : header_(header), shape_(shape) {}

    template <class Visitor>
    static void call_visitor(void* visitor, const EntryView& entry) {
        (*static_cast<std::remove_reference_t<Visitor>*>(visitor))(entry);
    }
    void visit_entries(std::int64_t now, std::uint32_t findtime,
                       void (*fn)(void*, const EntryView&), void* ctx) const;
    template <class Visitor>
    static void call_saved_visitor(void* visitor, const SavedEntry& entry) {
        (*static_cast<std::remove_reference_t<Visitor>*>(visitor))(entry);
    }
    void visit_saved(void (*fn)(void*, const SavedEntry&), void* ctx) const;

    Header* header_;
    Shape shape_;
};

}  // namespace xmlrpcguard
