// The prefix bans on the status page: a snapshot of the PrefixTable and its renderings
// as pieces of the page's JSON, metrics and HTML (status_report.cpp puts them in).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "xmlrpcguard/ban_time.hpp"
#include "xmlrpcguard/prefix_table.hpp"

namespace xmlrpcguard {

struct PrefixReport {
    PrefixStats stats;
    PrefixRule rule;
    std::vector<PrefixView> bans;  // running prefix bans, the latest first (at most max_bans)
    std::size_t bans_total = 0;
};

PrefixReport gather_prefixes(const PrefixTable& table, std::int64_t now, const PrefixRule& rule,
                             std::size_t max_bans = 1000);

// `,"prefix_bans":{...}`: to follow another member of the page's object.
std::string prefix_json(const PrefixReport& report, std::int64_t now);
std::string prefix_metrics(const PrefixReport& report);
std::string prefix_html(const PrefixReport& report, std::int64_t now);

}  // namespace xmlrpcguard
