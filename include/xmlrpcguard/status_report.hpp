// What the status page shows, gathered once per request from the shared table and
// counters, and its three renderings: HTML for a person, JSON for scripts, and the
// Prometheus text format (0.0.4) for metrics. Pure functions of the snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "xmlrpcguard/ban_time.hpp"
#include "xmlrpcguard/guard_counters.hpp"
#include "xmlrpcguard/prefix_status.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

struct StatusReport {
    std::int64_t now = 0;
    std::int64_t counting_since = 0;  // when the counters started
    CounterValues counters{};
    TableStats table;
    WindowRule rule;                   // findtime / maxretry the offender list is measured against
    unsigned ipv6_prefix = 64;         // IPv6 keys are networks of this length
    BanTimePolicy ban_policy;          // for each entry's next ban length
    std::vector<EntryView> bans;       // active bans, the latest first (at most max_bans)
    std::size_t bans_total = 0;        // every active ban, listed or not
    std::vector<EntryView> offenders;  // not banned, offences within findtime, most first
    std::optional<PrefixReport> prefixes;  // XmlRpcGuardPrefixBan's table, when there is one
};

struct StatusLimits {
    std::size_t max_bans = 1000;
    std::size_t top_offenders = 20;
};

StatusReport gather_status(const WindowTable& table, const GuardCounters* counters,
                           std::int64_t now, WindowRule rule, unsigned ipv6_prefix,
                           StatusLimits limits = {}, BanTimePolicy ban_policy = {});

std::string status_json(const StatusReport& report);
// "cluster: connected since 2026-11-30T06:00:00Z" (or disconnected); empty without
// XmlRpcGuardCluster. Said by the status page, its JSON and xmlrpcguardctl status.
std::string cluster_state(const StatusReport& report);
std::string status_metrics(const StatusReport& report);
std::string status_html(const StatusReport& report);

// A table key as people write it: "198.18.7.10", "2001:db8:7::/64".
std::string key_text(const Address& key, unsigned ipv6_prefix);

// "2026-11-25T03:37:03Z"; "-" for 0.
std::string utc_time(std::int64_t seconds);

}  // namespace xmlrpcguard
