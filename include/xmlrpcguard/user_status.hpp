// The status page's "user names" section: locked names (a prefix of their keyed hash,
// never the name), counts and the vhost's alarm, in the page's three renderings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "xmlrpcguard/user_table.hpp"

namespace xmlrpcguard {

struct UserStatus {
    std::int64_t now = 0;
    UserTableStats stats;
    std::vector<UserLockView> locks;  // of this vhost, at most 1000
    std::size_t locks_total = 0;      // of this vhost
    AlarmState alarm;
    UserRule rule;
    AlarmRule alarm_rule;
};

UserStatus gather_user_status(const UserTable& table, std::size_t vhost, std::int64_t now,
                              const UserRule& rule, const AlarmRule& alarm_rule);

std::string user_status_json(const UserStatus& status);  // a JSON object
std::string user_status_metrics(const UserStatus& status);
std::string user_status_html(const UserStatus& status);  // a <section>

}  // namespace xmlrpcguard
