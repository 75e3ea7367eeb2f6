// PrefixTable: networks (an IPv4 /24, an IPv6 /48 by default) whose members offend
// together, and the prefix bans that follow, in a memory region the caller provides
// (beside the WindowTable in httpd's shared segment). A botnet that spreads over a /24,
// or one attacker who owns a /48 (65,536 /64s), stays below maxretry per address, or is
// banned once per address while it fills the table; counted per prefix it is one ban.
//
// Rule: a prefix is due for a ban when, within findtime, at least `threshold` distinct
// members (offender keys: an IPv4 address, an IPv6 /64) offended and their offences add
// up to threshold x maxretry, each member counted up to maxretry (a member banned by its
// own offences counts maxretry). So `threshold` banned addresses of one prefix ban it,
// and so do more members that each stay just below maxretry.
//
// Like the WindowTable, the region holds no pointers, starts with a header (magic,
// layout version, geometry) checked once at attach, and anything read back from it later
// is data, never geometry: httpd's children (so PHP) could write it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/address_set.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

// How members are grouped and when their prefix is banned.
struct PrefixRule {
    unsigned ipv4_bits = 24;      // IPv4 bits of a prefix (16..31)
    unsigned ipv6_bits = 48;      // IPv6 bits of a prefix (32..127), shorter than the member keys
    std::uint32_t threshold = 8;  // distinct members (2..kMaxThreshold)
    std::uint32_t findtime = 3600;
    std::uint32_t maxretry = 3;

    unsigned bits_for(const Address& address) const noexcept {
        return address.is_ipv4() ? ipv4_bits : ipv6_bits;
    }
    // The network `address` belongs to, as the table keys it.
    Cidr prefix_of(const Address& address) const noexcept {
        unsigned bits = bits_for(address);
        return Cidr{address.masked(bits), bits};
    }
};

struct PrefixNote {
    Cidr prefix;
    std::uint32_t members = 0;   // distinct members seen within findtime
    std::uint32_t offences = 0;  // their offences, each member's capped at maxretry
    bool due = false;            // the rule holds: ban the prefix
    bool first_due = false;      // due with this note, not before it (report once)
    bool banned = false;         // already banned: nothing was counted
    bool refused = false;        // no record free (only active prefix bans around)
};

// A consistent copy of one record, for listing.
struct PrefixView {
    Cidr prefix;
    std::int64_t banned_since = 0;  // 0 = not banned
    std::int64_t banned_until = 0;
    bool httpd_only = false;
    std::uint32_t times_banned = 0;
    std::uint32_t members = 0;  // distinct members within the findtime given to for_each
    std::uint32_t folded = 0;   // table entries released by its latest ban
};

// One record whole, as the state file keeps it.
struct SavedPrefix {
    Cidr prefix;
    std::int64_t ban_until = 0;
    std::int64_t banned_since = 0;
    bool httpd_only = false;
    std::uint32_t times_banned = 0;
};

struct PrefixStats {
    std::size_t capacity = 0;
    std::size_t used = 0;
    std::size_t banned = 0;
    std::uint64_t bans = 0;          // prefixes newly banned since formatting
    std::uint64_t folded = 0;        // table entries released by prefix bans
    std::uint64_t refused_full = 0;  // notes refused: only active prefix bans around
    std::uint64_t denied = 0;        // requests denied at once because their prefix is banned
    std::uint64_t spared = 0;        // prefixes due but not banned: they hold a protected address
    std::uint64_t detected = 0;      // prefixes due under DetectOnly: reported, not banned
};

// What httpd counts beside the table's own numbers (relaxed atomic adds, any process).
enum class PrefixCounter : std::uint8_t { Denied, Spared, Detected };

class PrefixTable {
  public:
    // Members a record remembers (and so the largest threshold).
    static constexpr std::uint32_t kMaxThreshold = 16;
    static constexpr std::size_t kRecordBytes = 256;
    static constexpr std::size_t kDefaultCapacity = 4096;

    static std::size_t region_size(std::size_t capacity) noexcept;

    // As WindowTable::attach: reuses a region whose header matches, else formats it.
    static std::pair<PrefixTable, WindowTable::Attach> attach(void* base, std::size_t bytes,
                                                              std::size_t capacity);
    static std::optional<PrefixTable> open(void* base, std::size_t bytes) noexcept;

    // `count` offences of the member key `member` at `now`; `member_banned`: the member
    // reached maxretry with them. Says whether the member's prefix is now due for a ban.
    PrefixNote note(const Address& member, std::int64_t now, std::uint32_t count,
                    bool member_banned, const PrefixRule& rule);

    // Bans `prefix` until `until`. True when it was not banned at `now` (exactly one
    // caller reports a new ban); a running ban is extended to a later `until`.
    bool ban(const Cidr& prefix, std::int64_t now, std::int64_t until,
             BanScope scope = BanScope::Kernel);
    // Records how many table entries the ban released (for the status page).
    void set_folded(const Cidr& prefix, std::uint32_t folded);
    bool unban(const Cidr& prefix, std::int64_t now);
    // Lifts every prefix ban; returns how many were running.
    std::size_t unban_all(std::int64_t now);

    // The early-deny check: is the prefix of `address` (per `rule`'s sizes) banned?
    // Lock-free, allocation-free.
    bool banned(const Address& address, const PrefixRule& rule, std::int64_t now) const noexcept;
    std::uint32_t times_banned(const Cidr& prefix) const noexcept;

    template <class Visitor>
    void for_each(std::int64_t now, std::uint32_t findtime, Visitor&& visit) const {
        visit_records(now, findtime, &call_visitor<Visitor>, &visit);
    }
    // Puts a saved prefix ban back (the helper, after a stop). False if refused.
    bool restore(const SavedPrefix& saved, std::int64_t now);

    PrefixStats stats(std::int64_t now) const noexcept;
    void count(PrefixCounter counter) noexcept;
    std::size_t capacity() const noexcept { return slots_; }
    // First violated invariant, or empty (tests; meaningful with no writer mid-update).
    std::string audit() const;

    struct Region;

  private:
    PrefixTable(Region* region, std::size_t slots, std::uint64_t seed) noexcept
        : region_(region), slots_(slots), seed_(seed) {}
    template <class Visitor>
    static void call_visitor(void* visitor, const PrefixView& view) {
        (*static_cast<std::remove_reference_t<Visitor>*>(visitor))(view);
    }
    void visit_records(std::int64_t now, std::uint32_t findtime,
                       void (*fn)(void*, const PrefixView&), void* ctx) const;

    Region* region_;
    std::size_t slots_;
    std::uint64_t seed_;
};

// True when `prefix` holds any address of `protected_set` or lies inside one of its
// blocks: a prefix ban must never cover loopback, the server's own addresses or an
// ignored one. `why` names the first such block.
bool covers_protected(const Cidr& prefix, const AddressSet& protected_set, std::string& why);

}  // namespace xmlrpcguard
