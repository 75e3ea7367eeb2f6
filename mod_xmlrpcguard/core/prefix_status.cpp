#include "xmlrpcguard/prefix_status.hpp"

#include <algorithm>

#include "xmlrpcguard/status_report.hpp"

namespace xmlrpcguard {
namespace {

std::string number(std::uint64_t value) {
    return std::to_string(value);
}

// A CIDR's text holds only hex digits, dots, colons and a slash: nothing to escape.
std::string quoted(const std::string& text) {
    return "\"" + text + "\"";
}

}  // namespace

PrefixReport gather_prefixes(const PrefixTable& table, std::int64_t now, const PrefixRule& rule,
                             std::size_t max_bans) {
    PrefixReport report;
    report.rule = rule;
    report.stats = table.stats(now);
    table.for_each(now, rule.findtime, [&](const PrefixView& view) {
        if (view.banned_until > now) {
            ++report.bans_total;
            report.bans.push_back(view);
        }
    });
    std::sort(report.bans.begin(), report.bans.end(), [](const PrefixView& a, const PrefixView& b) {
        return a.banned_since > b.banned_since;
    });
    if (report.bans.size() > max_bans) {
        report.bans.resize(max_bans);
    }
    return report;
}

std::string prefix_json(const PrefixReport& report, std::int64_t now) {
    const PrefixStats& s = report.stats;
    std::string out =
        ",\"prefix_bans\":{\"ipv4_bits\":" + number(report.rule.ipv4_bits) +
        ",\"ipv6_bits\":" + number(report.rule.ipv6_bits) +
        ",\"threshold\":" + number(report.rule.threshold) + ",\"capacity\":" + number(s.capacity) +
        ",\"used\":" + number(s.used) + ",\"banned\":" + number(s.banned) +
        ",\"bans_total\":" + number(s.bans) + ",\"folded_total\":" + number(s.folded) +
        ",\"denied_total\":" + number(s.denied) + ",\"spared_total\":" + number(s.spared) +
        ",\"detected_total\":" + number(s.detected) +
        ",\"refused_full\":" + number(s.refused_full) + ",\"bans\":[";
    for (std::size_t i = 0; i < report.bans.size(); ++i) {
        const PrefixView& v = report.bans[i];
        out += (i ? ",{" : "{");
        out += "\"prefix\":" + quoted(v.prefix.to_string()) +
               ",\"since\":" + quoted(utc_time(v.banned_since)) +
               ",\"until\":" + quoted(utc_time(v.banned_until)) + ",\"seconds_left\":" +
               number(static_cast<std::uint64_t>(std::max<std::int64_t>(0, v.banned_until - now))) +
               ",\"times_banned\":" + number(v.times_banned) + ",\"folded\":" + number(v.folded) +
               ",\"httpd_only\":" + (v.httpd_only ? "true" : "false") + "}";
    }
    out += "]}";
    return out;
}

std::string prefix_metrics(const PrefixReport& report) {
    const PrefixStats& s = report.stats;
    std::string out;
    auto single = [&](const char* name, const char* type, const char* help, std::uint64_t value) {
        out.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
        out.append(name).append(" ").append(number(value)).append("\n");
    };
    single("xmlrpcguard_banned_prefixes", "gauge",
           "Prefixes (an IPv4 /24, an IPv6 /48 by default) banned right now.", s.banned);
    single("xmlrpcguard_prefix_bans_total", "counter",
           "Prefixes banned because enough of their addresses offended within findtime.", s.bans);
    single("xmlrpcguard_prefix_folded_entries_total", "counter",
           "Table entries released because a prefix ban covers them.", s.folded);
    single("xmlrpcguard_prefix_denied_requests_total", "counter",
           "Requests answered 403 at once because their prefix is banned.", s.denied);
    single("xmlrpcguard_prefix_spared_total", "counter",
           "Prefixes due for a ban but not banned: they hold a protected address.", s.spared);
    single("xmlrpcguard_prefix_detected_total", "counter",
           "Prefixes due for a ban under DetectOnly: reported, not banned.", s.detected);
    single("xmlrpcguard_prefix_refused_records_total", "counter",
           "Offences not counted per prefix because only running prefix bans were left.",
           s.refused_full);
    return out;
}

std::string prefix_html(const PrefixReport& report, std::int64_t now) {
    const PrefixStats& s = report.stats;
    std::string out =
        "<h2>Prefix bans (" + number(report.bans_total) + ")</h2>\n<p class=note>A /" +
        number(report.rule.ipv4_bits) + " or /" + number(report.rule.ipv6_bits) +
        " is banned when " + number(report.rule.threshold) +
        " of its addresses offend as much as a banned address within findtime. " + number(s.bans) +
        " prefix bans so far, " + number(s.folded) + " table entries folded into them, " +
        number(s.denied) + " requests denied by them, " + number(s.spared) +
        " spared (a protected address inside), " + number(s.detected) +
        " reported under DetectOnly.</p>\n";
    out +=
        "<table><thead><tr><th>prefix</th><th>since</th><th>until</th><th>seconds left</th>"
        "<th>times banned</th><th>entries folded</th><th>kernel</th></tr></thead><tbody>\n";
    for (const PrefixView& v : report.bans) {
        out += "<tr><td>" + v.prefix.to_string() + "</td><td>" + utc_time(v.banned_since) +
               "</td><td>" + utc_time(v.banned_until) + "</td><td class=n>" +
               number(static_cast<std::uint64_t>(std::max<std::int64_t>(0, v.banned_until - now))) +
               "</td><td class=n>" + number(v.times_banned) + "</td><td class=n>" +
               number(v.folded) + "</td><td>" + (v.httpd_only ? "no (httpd only)" : "yes") +
               "</td></tr>\n";
    }
    out += "</tbody></table>\n";
    return out;
}

}  // namespace xmlrpcguard
