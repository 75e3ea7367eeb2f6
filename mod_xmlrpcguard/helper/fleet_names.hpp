// Per-user-name locks for the whole fleet (XmlRpcGuardCluster with
// XmlRpcGuardClusterNameKey), as the helper's loop sees them.
//
// Each node hashes names with a key of its own, drawn at each httpd start, so two nodes
// cannot compare their user tables. A child therefore reports a failure with the folded
// name and its own table's hash; the helper (the only holder of the fleet's name key)
// turns the name into the fleet's hash, remembers which record of its own table that
// hash stands for, and hands (fleet hash, rule) to the link, whose script counts the
// fleet's window in Redis and appends a `lock` entry to the stream past maxretry. When
// a lock entry comes back, the helper writes the lock into its own table through that
// map; a lock for a name this node has not seen yet is kept (bounded) and written at the
// name's first failure here. Redis never sees a name, nor a node's own hash.
//
// What may arrive is judged: the channel is held by PHP under mod_php, the stream by
// whoever holds Redis's password. A report must be well formed, name a vhost slot that
// holds that vhost, and carry a user rule the configuration has, within a ceiling of
// its own; a lock entry must be well formed, end within the longest configured lock
// time, and come within a ceiling of its own. Neither can do more than lock a name, and
// a lock never stops an address trusted for the name (nor XmlRpcGuardTrustIP).
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster_apply.hpp"
#include "cluster_link.hpp"
#include "offence_admission.hpp"
#include "xmlrpcguard/name_report.hpp"
#include "xmlrpcguard/token_bucket.hpp"
#include "xmlrpcguard/user_table.hpp"

namespace xmlrpcguard {

struct FleetNameSettings {
    NameKey key{};                // the fleet's name key (fleet_name_key of the shared file)
    std::vector<UserRule> rules;  // of the vhosts whose children report: empty refuses all
    // Children's name reports: one per failed password check, so 1000 a second is more
    // than a node's backend checks.
    std::uint32_t reports_per_second = 1000;
    std::uint32_t reports_burst = 10000;
    // Lock entries from the stream for names not seen here, kept for their first failure.
    std::uint32_t locks_per_second = 100;
    std::uint32_t locks_burst = 1000;
    std::size_t known_limit = 65536;   // fleet hash -> own record, oldest forgotten first
    std::size_t kept_limit = 4096;     // locks of names not seen here yet
    std::size_t pending_limit = 4096;  // locks whose record's stripe was held: retried
    // How far a lock's end (Redis's clock) may lie past the longest lock time by this
    // node's clock before the entry is refused; within it the end is cut to the lock
    // time, so a node whose clock lags Redis's applies the lock as long as the others.
    std::int64_t clock_slack = 300;
};

class FleetNames {
  public:
    FleetNames(UserTable table, FleetNameSettings settings);

    // A child's datagram that starts with the name magic. Accepted: `out` is for the link
    // (and a fleet lock kept for this name is written into the table now).
    ReportVerdict admit(std::span<const std::byte> datagram, std::int64_t now, NameFailure& out);

    // A stream entry with op=lock. Applied: written into the table (a name that failed
    // here lately, whatever the rate); Unchanged: kept until the name fails here;
    // Expired; Malformed; OverRate (the ceiling on locks of names not seen here).
    ClusterOutcome apply(const ClusterEntry& entry, std::int64_t now, std::string& why);

    // Once a second: the locks whose record's stripe was held (the helper never waits
    // for a stripe: www-data can hold one) are tried again, the ended ones dropped.
    void retry(std::int64_t now);

    std::size_t known() const noexcept { return known_.size(); }
    std::size_t kept() const noexcept { return kept_.size(); }
    std::size_t pending() const noexcept { return pending_.size(); }

  private:
    struct Record {
        std::uint8_t slot = 0;
        std::uint64_t local = 0;
        std::uint32_t locktime = 0;  // its vhost's XmlRpcGuardUserLockTime (a configured one)
    };
    struct Kept {
        std::int64_t until = 0;
        std::uint64_t serial = 0;  // its entry in kept_order_; an older entry there is stale
    };
    struct Pending {
        Record record;
        std::int64_t until = 0;
    };
    bool configured(const UserRule& rule) const noexcept;
    void remember(std::uint64_t fleet, Record record);
    // Written now, or queued for retry() when the record's stripe is held.
    bool impose(Record record, std::int64_t now, std::int64_t until);

    UserTable table_;
    FleetNameSettings settings_;
    std::uint32_t longest_locktime_ = 0;
    TokenBucket report_tokens_;
    TokenBucket lock_tokens_;
    std::unordered_map<std::uint64_t, Record> known_;
    std::deque<std::uint64_t> known_order_;
    std::unordered_map<std::uint64_t, Kept> kept_;                    // fleet hash -> until
    std::deque<std::pair<std::uint64_t, std::uint64_t>> kept_order_;  // (fleet hash, serial)
    std::uint64_t kept_serial_ = 0;
    std::deque<Pending> pending_;
};

}  // namespace xmlrpcguard
