// The directives of "who is being guessed" (per-user-name locks, trust, the
// site-wide alarm): their per-vhost values, merge and defaults. ServerConfig holds a
// pointer to one of these; the command_rec entries are spliced into kDirectives.
#pragma once

#include <httpd.h>  // first: the other httpd headers need its types

#include <http_config.h>

#include <cstdint>

#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/user_table.hpp"

namespace xmlrpcguard::httpd {

// Defaults, reasoned in README ("Who is being guessed"): a person who forgot a
// password tries a few times and then resets it; ten failures of one name within an
// hour, from anywhere, are no person. The lock lasts an hour after the last attempt.
inline constexpr std::int64_t kDefaultUserFindTime = 3600;
inline constexpr std::int64_t kDefaultUserMaxRetry = 10;
inline constexpr std::int64_t kDefaultUserLockTime = 3600;
inline constexpr std::int64_t kDefaultTrustTime = 30 * 86400;
inline constexpr std::int64_t kDefaultAlarmRate = 60;  // failures a minute, site-wide
inline constexpr std::int64_t kDefaultAlarmPeriod = 60;
inline constexpr std::int64_t kDefaultAlarmFactor = 20;  // times the site's own baseline
inline constexpr std::int64_t kDefaultUserTableSize = 16384;

struct UserConfig {
    int enabled;  // -1 unset, 0 Off, 1 On
    std::int64_t findtime;
    std::int64_t maxretry;
    std::int64_t locktime;
    std::int64_t trust_time;
    std::int64_t alarm_rate;
    std::int64_t alarm_period;
    std::int64_t alarm_factor;
    std::int64_t table_size;    // server-wide
    apr_array_header_t* trust;  // of Cidr, additive

    UserRule rule() const noexcept {
        return {static_cast<std::uint32_t>(findtime), static_cast<std::uint32_t>(maxretry),
                static_cast<std::uint32_t>(locktime)};
    }
    AlarmRule alarm() const noexcept {
        AlarmRule out;
        out.rate = static_cast<std::uint32_t>(alarm_rate);
        out.period = static_cast<std::uint32_t>(alarm_period);
        out.factor = static_cast<std::uint32_t>(alarm_factor);
        return out;
    }
    bool trusts(const Address& client) const noexcept;
};

UserConfig* create_user_config(apr_pool_t* pool);
UserConfig* merge_user_config(apr_pool_t* pool, const UserConfig* base, const UserConfig* add);
void resolve_user_defaults(UserConfig& config);

const char* set_users(cmd_parms* cmd, void*, const char* value);
const char* set_user_duration(cmd_parms* cmd, void*, const char* value);
const char* set_user_maxretry(cmd_parms* cmd, void*, const char* value);
const char* add_trust_ip(cmd_parms* cmd, void*, const char* value);
const char* set_alarm_rate(cmd_parms* cmd, void*, const char* rate, const char* period);
const char* set_alarm_factor(cmd_parms* cmd, void*, const char* value);
const char* set_user_table_size(cmd_parms* cmd, void*, const char* value);

// command_rec entries for kDirectives (as_cmd and offset are config.cpp's helpers).
#define XRG_USER_DIRECTIVES                                                                        \
    AP_INIT_TAKE1("XmlRpcGuardUsers", as_cmd(set_users), nullptr, RSRC_CONF,                       \
                  "On | Off: per-user-name locks and the site-wide alarm (default On)"),           \
        AP_INIT_TAKE1("XmlRpcGuardUserFindTime", as_cmd(set_user_duration),                        \
                      offset(offsetof(UserConfig, findtime)), RSRC_CONF,                           \
                      "window in which one user name's failures are counted (default 1h)"),        \
        AP_INIT_TAKE1("XmlRpcGuardUserMaxRetry", as_cmd(set_user_maxretry), nullptr, RSRC_CONF,    \
                      "failures of one user name, from any addresses, within the window "          \
                      "that lock the name (1-15, default 10)"),                                    \
        AP_INIT_TAKE1("XmlRpcGuardUserLockTime", as_cmd(set_user_duration),                        \
                      offset(offsetof(UserConfig, locktime)), RSRC_CONF,                           \
                      "how long a locked name stays locked after its last attempt (1h)"),          \
        AP_INIT_TAKE1("XmlRpcGuardTrustTime", as_cmd(set_user_duration),                           \
                      offset(offsetof(UserConfig, trust_time)), RSRC_CONF,                         \
                      "how long an address that logged in as a name stays trusted (30d)"),         \
        AP_INIT_ITERATE("XmlRpcGuardTrustIP", as_cmd(add_trust_ip), nullptr, RSRC_CONF,            \
                        "addresses or CIDR blocks trusted for every user name"),                   \
        AP_INIT_TAKE12("XmlRpcGuardAlarmRate", as_cmd(set_alarm_rate), nullptr, RSRC_CONF,         \
                       "N [PERIOD]: failures per period, site-wide, that protect every name "      \
                       "(default 60 1m; 0 = off)"),                                                \
        AP_INIT_TAKE1("XmlRpcGuardAlarmFactor", as_cmd(set_alarm_factor), nullptr, RSRC_CONF,      \
                      "or this many times the site's own baseline (default 20; 0 = off)"),         \
        AP_INIT_TAKE1("XmlRpcGuardUserTableSize", as_cmd(set_user_table_size), nullptr, RSRC_CONF, \
                      "user names held in shared memory (server-wide)")

}  // namespace xmlrpcguard::httpd
