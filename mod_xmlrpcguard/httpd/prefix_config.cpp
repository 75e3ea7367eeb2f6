#include "prefix_config.hpp"

#include <apr_strings.h>
#include <http_log.h>

#include <cstdlib>
#include <cstring>

namespace xmlrpcguard::httpd {
namespace {

const char* refuse(cmd_parms* cmd, const char* value, const char* why) {
    return apr_psprintf(cmd->pool, "%s: invalid value '%s': %s", cmd->directive->directive, value,
                        why);
}

// A whole decimal number within [min, max].
bool parse_bits(const char* text, long min, long max, long& out) {
    char* end = nullptr;
    if (!text || *text < '0' || *text > '9' || std::strlen(text) > 4) {
        return false;
    }
    out = std::strtol(text, &end, 10);
    return *end == '\0' && out >= min && out <= max;
}

PrefixBanConfig& prefix_of(cmd_parms* cmd) {
    return config_of(cmd->server).prefix;
}

bool good_set_name(const char* name) {
    std::size_t length = std::strlen(name);
    return length >= 1 && length <= 31 &&
           std::strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
               length;
}

}  // namespace

const char* set_prefix_ban(cmd_parms* cmd, void*, const char* value) {
    if (!strcasecmp(value, "on")) {
        prefix_of(cmd).enabled = 1;
    } else if (!strcasecmp(value, "off")) {
        prefix_of(cmd).enabled = 0;
    } else {
        return refuse(cmd, value, "expected On or Off");
    }
    return nullptr;
}

const char* set_prefix_ban_size(cmd_parms* cmd, void*, const char* ipv4, const char* ipv6) {
    if (const char* error = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST)) {
        return error;
    }
    long v4 = 0, v6 = 0;
    if (!parse_bits(ipv4, kMinIPv4PrefixBan, 31, v4)) {
        return refuse(cmd, ipv4,
                      apr_psprintf(cmd->pool,
                                   "the IPv4 prefix length must be from %u to 31 (a /24 is 256 "
                                   "addresses)",
                                   kMinIPv4PrefixBan));
    }
    if (!parse_bits(ipv6, kMinIPv6PrefixBan, 127, v6)) {
        return refuse(cmd, ipv6,
                      apr_psprintf(cmd->pool,
                                   "the IPv6 prefix length must be from %u to 127, and shorter "
                                   "than XmlRpcGuardIPv6Prefix",
                                   kMinIPv6PrefixBan));
    }
    prefix_of(cmd).ipv4_bits = static_cast<int>(v4);
    prefix_of(cmd).ipv6_bits = static_cast<int>(v6);
    return nullptr;
}

const char* set_prefix_ban_threshold(cmd_parms* cmd, void*, const char* value) {
    long threshold = 0;
    if (!parse_bits(value, 2, PrefixTable::kMaxThreshold, threshold)) {
        return refuse(cmd, value,
                      apr_psprintf(cmd->pool, "expected a count of addresses from 2 to %u",
                                   PrefixTable::kMaxThreshold));
    }
    prefix_of(cmd).threshold = threshold;
    return nullptr;
}

const char* set_prefix_ban_ipset(cmd_parms* cmd, void*, const char* ipv4, const char* ipv6) {
    if (const char* error = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST)) {
        return error;
    }
    PrefixBanConfig& config = prefix_of(cmd);
    config.ipset_given = 1;
    if (!strcasecmp(ipv4, "none") && !ipv6) {
        config.ipset4 = config.ipset6 = nullptr;
        return nullptr;
    }
    if (!ipv6) {
        return refuse(cmd, ipv4, "expected two set names (IPv4 and IPv6, both hash:net) or none");
    }
    for (const char* name : {ipv4, ipv6}) {
        if (!good_set_name(name)) {
            return refuse(cmd, name, "a set name is 1 to 31 of A-Z a-z 0-9 _ . -");
        }
    }
    if (!strcmp(ipv4, ipv6)) {
        return refuse(cmd, ipv6, "the IPv4 and IPv6 sets must differ");
    }
    config.ipset4 = ipv4;
    config.ipset6 = ipv6;
    return nullptr;
}

void init_prefix_config(PrefixBanConfig& config) noexcept {
    config.enabled = -1;
    config.threshold = -1;
    config.ipv4_bits = -1;
    config.ipv6_bits = -1;
    config.ipset_given = 0;
    config.ipset4 = config.ipset6 = nullptr;
}

void merge_prefix_config(PrefixBanConfig& merged, const PrefixBanConfig& base,
                         const PrefixBanConfig& add) noexcept {
    merged = base;  // sizes and sets: the main server's
    merged.enabled = add.enabled >= 0 ? add.enabled : base.enabled;
    merged.threshold = add.threshold >= 0 ? add.threshold : base.threshold;
}

void resolve_prefix_defaults(PrefixBanConfig& config) noexcept {
    if (config.enabled < 0)
        config.enabled = 1;
    if (config.threshold < 0)
        config.threshold = kDefaultPrefixBanThreshold;
    if (config.ipv4_bits < 0)
        config.ipv4_bits = kDefaultPrefixBanIPv4;
    if (config.ipv6_bits < 0)
        config.ipv6_bits = kDefaultPrefixBanIPv6;
    if (!config.ipset_given) {
        config.ipset_given = 1;
        config.ipset4 = kDefaultPrefixIPSet4;
        config.ipset6 = kDefaultPrefixIPSet6;
    }
}

bool check_prefix_config(server_rec* main_server) noexcept {
    const PrefixBanConfig& prefix = config_of(main_server).prefix;
    int v6 = prefix.ipv6_bits >= 0 ? prefix.ipv6_bits : kDefaultPrefixBanIPv6;
    for (server_rec* s = main_server; s; s = s->next) {
        if (config_of(s).prefix.enabled != 1) {
            continue;  // prefix bans off there: its IPv6 keys are never grouped
        }
        int keyed = config_of(s).ipv6_prefix >= 0 ? config_of(s).ipv6_prefix : kDefaultIPv6Prefix;
        if (v6 >= keyed) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, main_server,
                         "XRG0350: XmlRpcGuardPrefixBanSize: invalid value '%d': the IPv6 "
                         "prefix must be shorter than XmlRpcGuardIPv6Prefix %d (%s:%d), whose "
                         "networks are its members",
                         v6, keyed, s->defn_name ? s->defn_name : "-", s->defn_line_number);
            return false;
        }
    }
    return true;
}

PrefixRule prefix_rule(const ServerConfig& config) noexcept {
    PrefixRule rule;
    rule.ipv4_bits = static_cast<unsigned>(config.prefix.ipv4_bits);
    rule.ipv6_bits = static_cast<unsigned>(config.prefix.ipv6_bits);
    rule.threshold = static_cast<std::uint32_t>(config.prefix.threshold);
    rule.findtime = static_cast<std::uint32_t>(config.findtime);
    rule.maxretry = static_cast<std::uint32_t>(config.maxretry);
    return rule;
}

}  // namespace xmlrpcguard::httpd
