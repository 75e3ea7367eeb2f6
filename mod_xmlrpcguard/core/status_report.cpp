#include "xmlrpcguard/status_report.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace xmlrpcguard {

namespace {

std::string reason_name(BanReason reason) {
    return to_string(reason);
}

void append_json_string(std::string& out, std::string_view text) {
    out += '"';
    for (char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char escaped[8];
                    std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
                    out += escaped;
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

void append_html(std::string& out, std::string_view text) {
    for (char c : text) {
        switch (c) {
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '&':
                out += "&amp;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
}

std::string number(std::uint64_t value) {
    return std::to_string(value);
}

// "2", "1.5": a JSON number, shortest form.
std::string factor_text(double factor) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", factor);
    return text;
}

std::uint64_t counter(const StatusReport& report, Counter which) {
    return report.counters[static_cast<std::size_t>(which)];
}

// What the next ban of this entry would last (without jitter): it is its ban number
// times_banned + 1.
std::uint32_t next_ban(const StatusReport& report, const EntryView& entry) {
    return ban_length(report.ban_policy, entry.times_banned + 1);
}

void append_entry_json(std::string& out, const EntryView& entry, bool banned,
                       const StatusReport& report) {
    unsigned prefix = report.ipv6_prefix;
    out += "{\"address\":";
    append_json_string(out, key_text(entry.address, prefix));
    if (banned) {
        out += ",\"ban_seconds\":" + number(static_cast<std::uint64_t>(std::max<std::int64_t>(
                                         0, entry.banned_until - entry.banned_since)));
        out += ",\"reason\":";
        append_json_string(out, reason_name(entry.reason));
        out += ",\"since\":";
        append_json_string(out, utc_time(entry.banned_since));
        out += ",\"until\":";
        append_json_string(out, utc_time(entry.banned_until));
    }
    out += ",\"times_banned\":" + number(entry.times_banned);
    out += ",\"next_ban_seconds\":" + number(next_ban(report, entry));
    out += ",\"offences_in_window\":" + number(entry.in_window);
    out += ",\"last_offence\":";
    append_json_string(out, utc_time(entry.last_offence));
    out += '}';
}

}  // namespace

std::string key_text(const Address& key, unsigned ipv6_prefix) {
    if (key.is_ipv4() || key.masked(ipv6_prefix) != key) {
        return key.to_string();
    }
    return key.to_string() + "/" + std::to_string(ipv6_prefix);
}

std::string utc_time(std::int64_t seconds) {
    if (seconds <= 0) {
        return "-";
    }
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm parts{};
    gmtime_r(&t, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

StatusReport gather_status(const WindowTable& table, const GuardCounters* counters,
                           std::int64_t now, WindowRule rule, unsigned ipv6_prefix,
                           StatusLimits limits, BanTimePolicy ban_policy) {
    StatusReport report;
    report.now = now;
    report.ban_policy = ban_policy;
    report.ipv6_prefix = ipv6_prefix;
    report.rule = rule;
    if (counters) {
        report.counters = counters->read();
        report.counting_since = counters->since();
    }
    report.table = table.stats(now);
    table.for_each(now, rule.findtime, [&](const EntryView& entry) {
        if (entry.banned_until > now) {
            ++report.bans_total;
            report.bans.push_back(entry);
        } else if (entry.in_window > 0) {
            report.offenders.push_back(entry);
        }
    });
    std::sort(report.bans.begin(), report.bans.end(), [](const EntryView& a, const EntryView& b) {
        return a.banned_since > b.banned_since;
    });
    if (report.bans.size() > limits.max_bans) {
        report.bans.resize(limits.max_bans);
    }
    std::sort(report.offenders.begin(), report.offenders.end(),
              [](const EntryView& a, const EntryView& b) {
                  return a.in_window != b.in_window ? a.in_window > b.in_window
                                                    : a.last_offence > b.last_offence;
              });
    if (report.offenders.size() > limits.top_offenders) {
        report.offenders.resize(limits.top_offenders);
    }
    return report;
}

std::string cluster_state(const StatusReport& report) {
    auto since = report.counters[static_cast<std::size_t>(Counter::ClusterStateSince)];
    if (since == 0) {
        return {};  // no XmlRpcGuardCluster, or the helper has not tried yet
    }
    bool up = report.counters[static_cast<std::size_t>(Counter::ClusterConnected)] != 0;
    return std::string("cluster: ") + (up ? "connected since " : "disconnected since ") +
           utc_time(static_cast<std::int64_t>(since));
}

std::string status_json(const StatusReport& report) {
    std::string out = "{\"now\":";
    append_json_string(out, utc_time(report.now));
    out += ",\"counting_since\":";
    append_json_string(out, utc_time(report.counting_since));
    out += ",\"findtime\":" + number(report.rule.findtime);
    out += ",\"maxretry\":" + number(report.rule.maxretry);
    const BanTimePolicy& policy = report.ban_policy;
    out += ",\"ban_time\":{\"bantime\":" + number(policy.bantime) +
           ",\"increment\":" + (policy.increment ? "true" : "false") +
           ",\"factor\":" + factor_text(policy.factor) + ",\"max\":" + number(policy.max) +
           ",\"jitter\":" + number(policy.jitter) + "}";
    if (std::string cluster = cluster_state(report); !cluster.empty()) {
        out += ",\"cluster\":";
        append_json_string(out, cluster);
    }
    out += ",\"counters\":{";
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        if (i) {
            out += ',';
        }
        append_json_string(out, info(static_cast<Counter>(i)).name);
        out += ':' + number(report.counters[i]);
    }
    const TableStats& t = report.table;
    out += "},\"table\":{\"capacity\":" + number(t.capacity) + ",\"used\":" + number(t.used) +
           ",\"banned\":" + number(t.banned) + ",\"evictions\":" + number(t.evictions) +
           ",\"refused_full\":" + number(t.refused_full) +
           ",\"lock_recoveries\":" + number(t.lock_recoveries) + "}";
    out += ",\"bans_total\":" + number(report.bans_total) + ",\"bans\":[";
    for (std::size_t i = 0; i < report.bans.size(); ++i) {
        if (i) {
            out += ',';
        }
        append_entry_json(out, report.bans[i], true, report);
    }
    out += "],\"offenders\":[";
    for (std::size_t i = 0; i < report.offenders.size(); ++i) {
        if (i) {
            out += ',';
        }
        append_entry_json(out, report.offenders[i], false, report);
    }
    out += "]";
    if (report.prefixes) {
        out += prefix_json(*report.prefixes, report.now);
    }
    out += "}\n";
    return out;
}

namespace {

struct MetricWriter {
    std::string& out;

    void family(std::string_view name, std::string_view type, std::string_view help) {
        out.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    }
    void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
        out.append(name);
        if (!labels.empty()) {
            out.append("{").append(labels).append("}");
        }
        out.append(" ").append(std::to_string(value)).append("\n");
    }
    void single(std::string_view name, std::string_view type, std::string_view help,
                std::uint64_t value) {
        family(name, type, help);
        sample(name, "", value);
    }
};

}  // namespace

std::string status_metrics(const StatusReport& report) {
    std::string out;
    MetricWriter m{out};
    auto c = [&](Counter which) { return counter(report, which); };

    m.family("xmlrpcguard_exchanges_total", "counter",
             "Guarded POST requests seen, by endpoint (xmlrpc: scanned both ways; login: answer "
             "searched for the failure marker).");
    m.sample("xmlrpcguard_exchanges_total", "endpoint=\"xmlrpc\"", c(Counter::XmlRpcExchanges));
    m.sample("xmlrpcguard_exchanges_total", "endpoint=\"login\"", c(Counter::LoginExchanges));
    m.single("xmlrpcguard_multicall_requests_total", "counter",
             "system.multicall requests among the XML-RPC ones.", c(Counter::MulticallRequests));
    m.family("xmlrpcguard_offences_total", "counter", "Offences counted, by kind.");
    m.sample("xmlrpcguard_offences_total", "kind=\"auth_failure\"", c(Counter::AuthFailures));
    m.sample("xmlrpcguard_offences_total", "kind=\"pingback_error\"", c(Counter::PingbackErrors));
    m.sample("xmlrpcguard_offences_total", "kind=\"login_failure\"", c(Counter::LoginFailures));
    m.single("xmlrpcguard_bans_total", "counter",
             "Addresses banned after reaching maxretry offences within findtime.",
             c(Counter::Bans));
    m.single("xmlrpcguard_denied_requests_total", "counter",
             "Requests of banned addresses answered 403 by the module.",
             c(Counter::DeniedRequests));
    m.single("xmlrpcguard_withheld_answers_total", "counter",
             "Answers replaced by 403 because their client was banned while they ran.",
             c(Counter::WithheldAnswers));
    m.single("xmlrpcguard_unscanned_encoded_answers_total", "counter",
             "Answers not scanned because the backend set Content-Encoding.",
             c(Counter::UnscannedEncoded));
    m.family("xmlrpcguard_scan_failures_total", "counter",
             "XML-RPC bodies the scanner could not read to the end, by direction and verdict.");
    m.sample("xmlrpcguard_scan_failures_total", "direction=\"request\",verdict=\"malformed\"",
             c(Counter::RequestsMalformed));
    m.sample("xmlrpcguard_scan_failures_total", "direction=\"request\",verdict=\"over_limit\"",
             c(Counter::RequestsOverLimit));
    m.sample("xmlrpcguard_scan_failures_total", "direction=\"response\",verdict=\"malformed\"",
             c(Counter::ResponsesMalformed));
    m.sample("xmlrpcguard_scan_failures_total", "direction=\"response\",verdict=\"over_limit\"",
             c(Counter::ResponsesOverLimit));
    m.family("xmlrpcguard_helper_messages_total", "counter",
             "Ban messages to the privileged helper, by fate (dropped ones are caught up by its "
             "reconcile from the table).");
    m.sample("xmlrpcguard_helper_messages_total", "result=\"sent\"",
             c(Counter::HelperMessagesSent));
    m.sample("xmlrpcguard_helper_messages_total", "result=\"dropped\"",
             c(Counter::HelperMessagesDropped));
    m.family("xmlrpcguard_httpd_only_bans_total", "counter",
             "Bans denied 403 in httpd and never sent to the kernel set, by cause (forwarded: "
             "the client was named by a proxy's header; kernel_ban_off: XmlRpcGuardKernelBan "
             "Off).");
    m.sample("xmlrpcguard_httpd_only_bans_total", "cause=\"forwarded\"",
             c(Counter::BansForwardedHttpdOnly));
    m.sample("xmlrpcguard_httpd_only_bans_total", "cause=\"kernel_ban_off\"",
             c(Counter::BansKernelOffHttpdOnly));
    m.single("xmlrpcguard_posts_from_ignored_peers_total", "counter",
             "Guarded POSTs from a loopback or ignored peer with no forwarded client address, "
             "never counted (a proxy in front without mod_remoteip?).",
             c(Counter::PostsFromIgnoredPeers));

    if (c(Counter::ClusterStateSince)) {
        m.single("xmlrpcguard_cluster_connected", "gauge",
                 "1 while the ban helper's link to Redis (XmlRpcGuardCluster) is up, else 0.",
                 c(Counter::ClusterConnected));
        m.single("xmlrpcguard_cluster_state_since_seconds", "gauge",
                 "When the link to Redis last came up or went down, in seconds since the epoch.",
                 c(Counter::ClusterStateSince));
        m.family("xmlrpcguard_cluster_offences_total", "counter",
                 "Offences on their way to the cluster's windows in Redis, by fate.");
        m.sample("xmlrpcguard_cluster_offences_total", "result=\"reported\"",
                 c(Counter::ClusterReportsSent));
        m.sample("xmlrpcguard_cluster_offences_total", "result=\"report_dropped\"",
                 c(Counter::ClusterReportsDropped));
        m.sample("xmlrpcguard_cluster_offences_total", "result=\"sent\"",
                 c(Counter::ClusterOffencesSent));
        m.sample("xmlrpcguard_cluster_offences_total", "result=\"dropped\"",
                 c(Counter::ClusterOffencesDropped));
        m.single("xmlrpcguard_cluster_bans_published_total", "counter",
                 "Bans this node's offences decided in Redis.", c(Counter::ClusterBansPublished));
        m.family("xmlrpcguard_cluster_entries_total", "counter",
                 "Entries of the cluster's ban stream, by fate here.");
        m.sample("xmlrpcguard_cluster_entries_total", "result=\"applied\"",
                 c(Counter::ClusterEntriesApplied));
        m.sample("xmlrpcguard_cluster_entries_total", "result=\"refused\"",
                 c(Counter::ClusterEntriesRefused));
        m.sample("xmlrpcguard_cluster_entries_total", "result=\"lift_refused\"",
                 c(Counter::ClusterLiftsRefused));
        m.family("xmlrpcguard_cluster_reports_refused_total", "counter",
                 "Offence reports of the children the helper did not pass on to Redis, by why.");
        m.sample("xmlrpcguard_cluster_reports_refused_total", "why=\"invalid\"",
                 c(Counter::ClusterReportsRefused));
        m.sample("xmlrpcguard_cluster_reports_refused_total", "why=\"over_rate\"",
                 c(Counter::ClusterReportsOverRate));
        m.single("xmlrpcguard_cluster_bans_deferred_total", "counter",
                 "Stream bans kept because the ban rate ceiling was reached, applied later.",
                 c(Counter::ClusterBansDeferred));
    }

    const TableStats& t = report.table;
    m.single("xmlrpcguard_banned_addresses", "gauge", "Addresses banned right now.", t.banned);
    m.single("xmlrpcguard_table_capacity", "gauge", "Addresses the shared table can hold.",
             t.capacity);
    m.single("xmlrpcguard_table_entries", "gauge", "Addresses the shared table holds.", t.used);
    m.single("xmlrpcguard_table_evictions_total", "counter",
             "Unbanned entries evicted to make room for new addresses.", t.evictions);
    m.single("xmlrpcguard_table_refused_records_total", "counter",
             "Offences not counted because only active bans were left to evict.", t.refused_full);
    m.single("xmlrpcguard_table_lock_recoveries_total", "counter",
             "Lock stripes repaired after the process holding them died.", t.lock_recoveries);
    m.single("xmlrpcguard_counting_since_seconds", "gauge",
             "When these counters started, in seconds since the epoch.",
             static_cast<std::uint64_t>(std::max<std::int64_t>(0, report.counting_since)));
    if (report.prefixes) {
        out += prefix_metrics(*report.prefixes);
    }
    return out;
}

namespace {

void entry_rows(std::string& out, const std::vector<EntryView>& entries, bool banned,
                const StatusReport& report) {
    unsigned prefix = report.ipv6_prefix;
    for (const EntryView& e : entries) {
        out += "<tr><td>";
        append_html(out, key_text(e.address, prefix));
        if (banned) {
            out += "</td><td>" + reason_name(e.reason) + "</td><td>" + utc_time(e.banned_since) +
                   "</td><td>" + utc_time(e.banned_until);
        }
        out += "</td><td class=n>" + number(e.times_banned) + "</td><td class=n>" +
               number(next_ban(report, e)) + "</td><td class=n>" + number(e.in_window) +
               "</td><td>" + utc_time(e.last_offence) + "</td></tr>\n";
    }
}

constexpr const char* kHtmlHead = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mod_xmlrpcguard status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}
th{background:#eee;cursor:pointer;user-select:none}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#666}
</style>
<script>
// Click a column heading to sort by it; click again to reverse.
document.addEventListener('click', function (ev) {
  var th = ev.target.closest('th'); if (!th) return;
  var table = th.closest('table'), body = table.tBodies[0];
  var col = Array.prototype.indexOf.call(th.parentNode.children, th);
  var up = th.dataset.dir !== 'up'; th.dataset.dir = up ? 'up' : 'down';
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = a.cells[col].textContent, y = b.cells[col].textContent;
    var nx = parseFloat(x), ny = parseFloat(y);
    var r = (!isNaN(nx) && !isNaN(ny) && String(nx) === x && String(ny) === y) ? nx - ny : x.localeCompare(y);
    return up ? r : -r;
  });
  rows.forEach(function (row) { body.appendChild(row); });
});
</script></head><body>
)";

}  // namespace

std::string status_html(const StatusReport& report) {
    std::string out = kHtmlHead;
    const TableStats& t = report.table;
    out += "<h1>mod_xmlrpcguard</h1>\n<p>" + utc_time(report.now) + ": <b>" +
           number(report.bans_total) + "</b> addresses banned; table " + number(t.used) + " / " +
           number(t.capacity) + " entries, " + number(t.evictions) + " evictions, " +
           number(t.refused_full) + " records refused (table full of bans). Counting since " +
           utc_time(report.counting_since) + ". findtime " + number(report.rule.findtime) +
           " s, maxretry " + number(report.rule.maxretry) +
           ". <span class=note>Also as <a href=\"?json\">JSON</a> and <a "
           "href=\"?metrics\">metrics</a>.</span></p>\n";
    // Said at the top because each is a deployment that is silently half-guarded:
    // clients behind a proxy that the kernel cannot drop, or none counted at all.
    auto c = [&](Counter which) { return counter(report, which); };
    std::uint64_t httpd_only =
        c(Counter::BansForwardedHttpdOnly) + c(Counter::BansKernelOffHttpdOnly);
    if (httpd_only) {
        out += "<p><b>" + number(httpd_only) +
               "</b> bans kept in httpd only (403), never in the kernel set: " +
               number(c(Counter::BansForwardedHttpdOnly)) +
               " of clients named by a proxy's header (their packets come from the proxy), " +
               number(c(Counter::BansKernelOffHttpdOnly)) +
               " in vhosts with XmlRpcGuardKernelBan Off.</p>\n";
    }
    if (std::string cluster = cluster_state(report); !cluster.empty()) {
        out += "<p><b>";
        append_html(out, cluster);
        out += "</b></p>\n";
    }
    if (c(Counter::PostsFromIgnoredPeers)) {
        out += "<p><b>" + number(c(Counter::PostsFromIgnoredPeers)) +
               "</b> guarded POSTs came from a loopback or ignored peer with no forwarded client "
               "address and were not counted: behind a proxy, load mod_remoteip and trust the "
               "proxy (RemoteIPHeader, RemoteIPInternalProxy).</p>\n";
    }

    out +=
        "<h2>Counters</h2>\n<table><thead><tr><th>counter</th><th>value</th><th>meaning</th>"
        "</tr></thead><tbody>\n";
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        const CounterInfo& about = info(static_cast<Counter>(i));
        out += "<tr><td>";
        append_html(out, about.name);
        out += "</td><td class=n>" + number(report.counters[i]) + "</td><td>";
        append_html(out, about.help);
        out += "</td></tr>\n";
    }
    out += "</tbody></table>\n";

    out += "<h2>Active bans (" + number(report.bans_total) + ")</h2>\n";
    if (report.bans.size() < report.bans_total) {
        out += "<p class=note>The latest " + number(report.bans.size()) +
               " shown; the JSON view has the same limit.</p>\n";
    }
    out +=
        "<table><thead><tr><th>address</th><th>reason</th><th>since</th><th>until</th>"
        "<th>times banned</th><th>next ban (s)</th><th>offences in window</th><th>last "
        "offence</th></tr></thead>"
        "<tbody>\n";
    entry_rows(out, report.bans, true, report);
    out += "</tbody></table>\n";

    out +=
        "<h2>Top offenders under the threshold</h2>\n<table><thead><tr><th>address</th>"
        "<th>times banned</th><th>next ban (s)</th><th>offences in window</th><th>last "
        "offence</th></tr></thead>"
        "<tbody>\n";
    entry_rows(out, report.offenders, false, report);
    out += "</tbody></table>\n";
    if (report.prefixes) {
        out += prefix_html(*report.prefixes, report.now);
    }
    out += "</body></html>\n";
    return out;
}

}  // namespace xmlrpcguard
