#include "xmlrpcguard/user_status.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "xmlrpcguard/status_report.hpp"

namespace xmlrpcguard {

namespace {

constexpr std::size_t kMaxListed = 1000;

std::string hash_prefix(std::uint64_t hash) {
    char text[17];
    std::snprintf(text, sizeof text, "%016" PRIx64, hash);
    return std::string(text, 12);
}

std::string n(std::uint64_t value) {
    return std::to_string(value);
}

}  // namespace

UserStatus gather_user_status(const UserTable& table, std::size_t vhost, std::int64_t now,
                              const UserRule& rule, const AlarmRule& alarm_rule) {
    UserStatus status;
    status.now = now;
    status.stats = table.stats();
    status.rule = rule;
    status.alarm_rule = alarm_rule;
    status.alarm = table.alarm(vhost, now, alarm_rule);
    std::uint64_t id = table.vhost_id(vhost);
    for (const UserLockView& lock : table.locks(now, table.capacity())) {
        if (lock.vhost != id) {
            continue;
        }
        ++status.locks_total;
        if (status.locks.size() < kMaxListed) {
            status.locks.push_back(lock);
        }
    }
    std::sort(status.locks.begin(), status.locks.end(),
              [](const UserLockView& a, const UserLockView& b) {
                  return a.locked_since > b.locked_since;
              });
    return status;
}

std::string user_status_json(const UserStatus& s) {
    std::string out = "{\"user_findtime\":" + n(s.rule.findtime) +
                      ",\"user_maxretry\":" + n(s.rule.maxretry) +
                      ",\"user_locktime\":" + n(s.rule.locktime);
    out += ",\"alarm\":{\"on\":" + std::string(s.alarm.on ? "true" : "false") +
           ",\"rate\":" + n(s.alarm.rate) + ",\"baseline\":" + n(s.alarm.baseline) +
           ",\"threshold\":" + n(s.alarm_rule.rate) + ",\"period\":" + n(s.alarm_rule.period) +
           ",\"factor\":" + n(s.alarm_rule.factor) + "}";
    out += ",\"locked\":" + n(s.locks_total);
    out += ",\"totals\":{\"failures\":" + n(s.stats.failures) + ",\"locks\":" + n(s.stats.locks) +
           ",\"answered_by_guard\":" + n(s.stats.answered) + ",\"alarms\":" + n(s.stats.alarms) +
           ",\"trusts\":" + n(s.stats.trusts) + ",\"refused\":" + n(s.stats.refused) +
           ",\"names\":" + n(s.stats.names) + "}";
    out += ",\"locks\":[";
    for (std::size_t i = 0; i < s.locks.size(); ++i) {
        const UserLockView& lock = s.locks[i];
        out += (i ? "," : "") + std::string("{\"user_hash\":\"") + hash_prefix(lock.name_hash) +
               "\",\"since\":\"" + utc_time(lock.locked_since) + "\",\"until\":\"" +
               utc_time(lock.locked_until) + "\",\"failures\":" + n(lock.failures) +
               ",\"locks\":" + n(lock.locks) + "}";
    }
    out += "]}";
    return out;
}

std::string user_status_metrics(const UserStatus& s) {
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, std::uint64_t value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
               name + " " + n(value) + "\n";
    };
    metric("xmlrpcguard_user_names_locked", "gauge", "User names of this vhost locked now.",
           s.locks_total);
    metric("xmlrpcguard_user_alarm", "gauge", "1 while this vhost's site-wide alarm is on.",
           s.alarm.on ? 1 : 0);
    metric("xmlrpcguard_user_failure_rate", "gauge",
           "Failed logins of this vhost in the last alarm period.", s.alarm.rate);
    metric("xmlrpcguard_user_failures_total", "counter", "Failures recorded per user name.",
           s.stats.failures);
    metric("xmlrpcguard_user_locks_total", "counter", "User names locked.", s.stats.locks);
    metric("xmlrpcguard_user_answered_total", "counter",
           "Attempts answered by the guard without a password check.", s.stats.answered);
    metric("xmlrpcguard_user_alarms_total", "counter", "Times a site-wide alarm turned on.",
           s.stats.alarms);
    metric("xmlrpcguard_user_trusts_total", "counter",
           "Successful logins that trusted their address for the name.", s.stats.trusts);
    metric("xmlrpcguard_user_refused_total", "counter",
           "Names not kept: their bucket held only locked or trusted names.", s.stats.refused);
    return out;
}

std::string user_status_html(const UserStatus& s) {
    std::string out = "<section id=\"user-names\"><h2>User names</h2>\n<p>Site-wide alarm: <b>" +
                      std::string(s.alarm.on ? "on" : "off") + "</b> (" + n(s.alarm.rate) +
                      " failures in the last " + n(s.alarm_rule.period) + " s, baseline " +
                      n(s.alarm.baseline) + "). Locked names: " + n(s.locks_total) +
                      ". Answered by the guard: " + n(s.stats.answered) + ".</p>\n";
    out +=
        "<table><tr><th>name hash</th><th>locked since</th><th>until</th><th>failures</th>"
        "</tr>\n";
    for (const UserLockView& lock : s.locks) {
        out += "<tr><td><code>" + hash_prefix(lock.name_hash) + "</code></td><td>" +
               utc_time(lock.locked_since) + "</td><td>" + utc_time(lock.locked_until) +
               "</td><td>" + n(lock.failures) + "</td></tr>\n";
    }
    out += "</table></section>\n";
    return out;
}

}  // namespace xmlrpcguard
