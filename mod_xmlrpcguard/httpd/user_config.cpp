#include "user_config.hpp"

#include <apr_strings.h>
#include <http_core.h>

#include <cstring>

#include "config.hpp"
#include "xmlrpcguard/address_set.hpp"
#include "xmlrpcguard/durations.hpp"

namespace xmlrpcguard::httpd {

namespace {

constexpr std::int64_t kUnset = -1;

UserConfig& users_of(cmd_parms* cmd) {
    return *config_of(cmd->server).users;
}

}  // namespace

bool UserConfig::trusts(const Address& client) const noexcept {
    return cidr_list_contains(trust, client);
}

UserConfig* create_user_config(apr_pool_t* pool) {
    auto* config = static_cast<UserConfig*>(apr_pcalloc(pool, sizeof(UserConfig)));
    config->enabled = -1;
    config->findtime = config->maxretry = config->locktime = config->trust_time = kUnset;
    config->alarm_rate = config->alarm_period = config->alarm_factor = kUnset;
    config->table_size = kUnset;
    config->trust = apr_array_make(pool, 2, sizeof(Cidr));
    return config;
}

UserConfig* merge_user_config(apr_pool_t* pool, const UserConfig* base, const UserConfig* add) {
    auto* merged = static_cast<UserConfig*>(apr_palloc(pool, sizeof(UserConfig)));
    *merged = *add;
    auto pick = [](std::int64_t mine, std::int64_t theirs) {
        return mine == kUnset ? theirs : mine;
    };
    merged->enabled = add->enabled < 0 ? base->enabled : add->enabled;
    merged->findtime = pick(add->findtime, base->findtime);
    merged->maxretry = pick(add->maxretry, base->maxretry);
    merged->locktime = pick(add->locktime, base->locktime);
    merged->trust_time = pick(add->trust_time, base->trust_time);
    merged->alarm_rate = pick(add->alarm_rate, base->alarm_rate);
    merged->alarm_period = pick(add->alarm_period, base->alarm_period);
    merged->alarm_factor = pick(add->alarm_factor, base->alarm_factor);
    merged->table_size = base->table_size;  // server-wide
    merged->trust = apr_array_append(pool, base->trust, add->trust);
    return merged;
}

void resolve_user_defaults(UserConfig& config) {
    auto fill = [](std::int64_t& field, std::int64_t value) {
        if (field == kUnset) {
            field = value;
        }
    };
    if (config.enabled < 0) {
        config.enabled = 1;
    }
    fill(config.findtime, kDefaultUserFindTime);
    fill(config.maxretry, kDefaultUserMaxRetry);
    fill(config.locktime, kDefaultUserLockTime);
    fill(config.trust_time, kDefaultTrustTime);
    fill(config.alarm_rate, kDefaultAlarmRate);
    fill(config.alarm_period, kDefaultAlarmPeriod);
    fill(config.alarm_factor, kDefaultAlarmFactor);
    fill(config.table_size, kDefaultUserTableSize);
}

const char* set_users(cmd_parms* cmd, void*, const char* value) {
    if (!strcasecmp(value, "on")) {
        users_of(cmd).enabled = 1;
    } else if (!strcasecmp(value, "off")) {
        users_of(cmd).enabled = 0;
    } else {
        return refuse_value(cmd, value, "expected On or Off");
    }
    return nullptr;
}

const char* set_user_duration(cmd_parms* cmd, void*, const char* value) {
    auto seconds = parse_duration(value);
    if (!seconds || *seconds == 0 || *seconds > 365 * 86400) {
        return refuse_value(cmd, value,
                            "expected a positive duration up to 365d, such as 600, 10m or 1h");
    }
    auto offset = reinterpret_cast<std::uintptr_t>(cmd->info);
    *reinterpret_cast<std::int64_t*>(reinterpret_cast<char*>(&users_of(cmd)) + offset) = *seconds;
    return nullptr;
}

const char* set_user_maxretry(cmd_parms* cmd, void*, const char* value) {
    if (!parse_whole_number(value, 1, UserTable::kMaxRetryCap, users_of(cmd).maxretry)) {
        return refuse_value(cmd, value,
                            apr_psprintf(cmd->pool, "expected a whole number from 1 to %u",
                                         static_cast<unsigned>(UserTable::kMaxRetryCap)));
    }
    return nullptr;
}

const char* add_trust_ip(cmd_parms* cmd, void*, const char* value) {
    return add_cidr(cmd, users_of(cmd).trust, value);
}

const char* set_alarm_rate(cmd_parms* cmd, void*, const char* rate, const char* period) {
    std::int64_t n = 0;
    if (!parse_whole_number(rate, 0, 1'000'000, n)) {
        return refuse_value(cmd, rate,
                            "expected a whole number of failures from 0 (off) to 1000000");
    }
    std::int64_t seconds = kDefaultAlarmPeriod;
    if (period) {
        auto parsed = parse_duration(period);
        if (!parsed || *parsed < 1 || *parsed > 3600) {
            return refuse_value(cmd, period,
                                "expected a period from 1 second to 1h, such as 10, 30s or 1m");
        }
        seconds = *parsed;
    }
    users_of(cmd).alarm_rate = n;
    users_of(cmd).alarm_period = seconds;
    return nullptr;
}

const char* set_alarm_factor(cmd_parms* cmd, void*, const char* value) {
    if (!parse_whole_number(value, 0, 10000, users_of(cmd).alarm_factor) ||
        (users_of(cmd).alarm_factor == 1)) {
        return refuse_value(cmd, value, "expected 0 (off) or a whole number from 2 to 10000");
    }
    return nullptr;
}

const char* set_user_table_size(cmd_parms* cmd, void*, const char* value) {
    if (const char* error = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST)) {
        return error;
    }
    if (!parse_whole_number(value, 64, 4 * 1024 * 1024, users_of(cmd).table_size)) {
        return refuse_value(cmd, value, "expected a whole number from 64 to 4194304");
    }
    return nullptr;
}

}  // namespace xmlrpcguard::httpd
