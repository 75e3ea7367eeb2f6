// Directives and the vhost-over-server merge. Every refusal names the directive
// and the value, so `apachectl configtest` tells the operator what to fix.
#include "config.hpp"

#include <apr_strings.h>
#include <http_core.h>
#include <http_log.h>
#include <unixd.h>

#include <grp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "cluster_names.hpp"
#include "prefix_config.hpp"
#include "redis_url.hpp"
#include "user_config.hpp"
#include "xmlrpcguard/durations.hpp"

namespace xmlrpcguard::httpd {

const char* to_string(GuardMode mode) noexcept {
    switch (mode) {
        case GuardMode::On:
            return "On";
        case GuardMode::DetectOnly:
            return "DetectOnly";
        case GuardMode::Off:
        case GuardMode::Unset:
            break;
    }
    return "Off";
}

bool ServerConfig::ignores(const Address& client) const noexcept {
    return client.is_loopback() || cidr_list_contains(ignore, client);
}

bool cidr_list_contains(const apr_array_header_t* list, const Address& client) noexcept {
    const auto* blocks = reinterpret_cast<const Cidr*>(list->elts);
    for (int i = 0; i < list->nelts; ++i) {
        if (blocks[i].contains(client)) {
            return true;
        }
    }
    return false;
}

namespace {

constexpr std::int64_t kUnset = -1;
constexpr std::int64_t kMinTableSize = 16;
constexpr std::int64_t kMaxTableSize = 16 * 1024 * 1024;
constexpr std::size_t kMaxIPSetName = 31;  // IPSET_MAXNAMELEN - 1

ServerConfig& config_of(cmd_parms* cmd) {
    return httpd::config_of(cmd->server);
}

const char* refuse(cmd_parms* cmd, const char* value, const char* why) {
    return apr_psprintf(cmd->pool, "%s: invalid value '%s': %s", cmd->directive->directive, value,
                        why);
}

// Scope "server": the main server config only, never inside <VirtualHost>.
const char* server_only(cmd_parms* cmd) {
    return ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST);
}

bool parse_count(const char* text, std::int64_t min, std::int64_t max, std::int64_t& out) {
    if (*text == '\0' || std::strlen(text) > 12) {
        return false;
    }
    std::int64_t value = 0;
    for (const char* p = text; *p; ++p) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        value = value * 10 + (*p - '0');
    }
    if (value < min || value > max) {
        return false;
    }
    out = value;
    return true;
}

const char* set_mode(cmd_parms* cmd, void*, const char* value) {
    if (!strcasecmp(value, "On")) {
        config_of(cmd).mode = GuardMode::On;
    } else if (!strcasecmp(value, "Off")) {
        config_of(cmd).mode = GuardMode::Off;
    } else if (!strcasecmp(value, "DetectOnly")) {
        config_of(cmd).mode = GuardMode::DetectOnly;
    } else {
        return refuse(cmd, value, "expected On, Off or DetectOnly");
    }
    return nullptr;
}

// The field a directive sets, from the offset its command_rec carries in cmd->info.
template <class Field>
Field& field_of(cmd_parms* cmd) {
    auto offset = reinterpret_cast<std::uintptr_t>(cmd->info);
    return *reinterpret_cast<Field*>(reinterpret_cast<char*>(&config_of(cmd)) + offset);
}

const char* set_duration(cmd_parms* cmd, void*, const char* value) {
    auto seconds = parse_duration(value);
    if (!seconds || *seconds == 0) {
        return refuse(cmd, value, "expected a positive duration such as 3600, 10m, 1h or 1d");
    }
    field_of<std::int64_t>(cmd) = *seconds;
    return nullptr;
}

// A ban's length: positive and at most the longest ban the table keeps.
const char* set_ban_duration(cmd_parms* cmd, void*, const char* value) {
    auto seconds = parse_duration(value);
    if (!seconds || *seconds == 0 || *seconds > kMaxBanSeconds) {
        return refuse(cmd, value, "expected a positive duration up to 3650d, such as 1h, 1d or 1w");
    }
    field_of<std::int64_t>(cmd) = *seconds;
    return nullptr;
}

// XmlRpcGuardBanTimeJitter: 0 turns it off.
const char* set_jitter(cmd_parms* cmd, void*, const char* value) {
    auto seconds = parse_duration(value);
    if (!seconds || *seconds > kMaxBanSeconds) {
        return refuse(cmd, value, "expected a duration from 0 to 3650d, such as 0, 10m or 1h");
    }
    config_of(cmd).ban_jitter = *seconds;
    return nullptr;
}

const char* set_increment(cmd_parms* cmd, void*, const char* value) {
    if (!strcasecmp(value, "on")) {
        config_of(cmd).ban_increment = 1;
    } else if (!strcasecmp(value, "off")) {
        config_of(cmd).ban_increment = 0;
    } else {
        return refuse(cmd, value, "expected On or Off");
    }
    return nullptr;
}

// A plain decimal number from 1 to 1000 ("2", "1.5"); no exponent, sign or units.
const char* set_factor(cmd_parms* cmd, void*, const char* value) {
    std::string_view text(value);
    bool digits_only = !text.empty() && text.size() <= 12 && text.front() != '.' &&
                       text.back() != '.' && std::count(text.begin(), text.end(), '.') <= 1 &&
                       text.find_first_not_of("0123456789.") == std::string_view::npos;
    double factor = digits_only ? std::strtod(value, nullptr) : 0;
    if (!digits_only || factor < 1 || factor > 1000) {
        return refuse(cmd, value, "expected a number from 1 to 1000, such as 2 or 1.5");
    }
    config_of(cmd).ban_factor = factor;
    return nullptr;
}

// The helper writes it as root: an absolute path whose directory it may create.
const char* set_state_file(cmd_parms* cmd, void*, const char* value) {
    if (const char* error = server_only(cmd)) {
        return error;
    }
    if (!strcasecmp(value, "none")) {
        config_of(cmd).state_file = "";
        return nullptr;
    }
    std::string_view path(value);
    if (path.size() < 2 || path.front() != '/' || path.back() == '/' || path.size() > 1000 ||
        path.find("/../") != std::string_view::npos || path.ends_with("/..") ||
        path.ends_with("/.")) {
        return refuse(cmd, value, "expected an absolute file path (at most 1000 bytes), or none");
    }
    config_of(cmd).state_file = value;
    return nullptr;
}

const char* set_maxretry(cmd_parms* cmd, void*, const char* value) {
    if (!parse_count(value, 1, WindowTable::kMaxRetryLimit, config_of(cmd).maxretry)) {
        return refuse(cmd, value,
                      apr_psprintf(cmd->pool, "expected a whole number from 1 to %u",
                                   static_cast<unsigned>(WindowTable::kMaxRetryLimit)));
    }
    return nullptr;
}

const char* add_ignore(cmd_parms* cmd, void*, const char* value) {
    return add_cidr(cmd, config_of(cmd).ignore, value);
}

// A guarded path is one path segment (a script name), not a path.
const char* set_path(cmd_parms* cmd, void*, const char* value) {
    if (*value == '\0' || std::strchr(value, '/') || !strcmp(value, ".") || !strcmp(value, "..")) {
        return refuse(cmd, value, "expected one path segment such as xmlrpc.php");
    }
    field_of<const char*>(cmd) = value;
    return nullptr;
}

const char* set_table_size(cmd_parms* cmd, void*, const char* value) {
    if (const char* error = server_only(cmd)) {
        return error;
    }
    if (!parse_count(value, kMinTableSize, kMaxTableSize, config_of(cmd).table_size)) {
        return refuse(cmd, value,
                      apr_psprintf(cmd->pool,
                                   "expected a whole number from %" APR_INT64_T_FMT
                                   " to %" APR_INT64_T_FMT "",
                                   static_cast<apr_int64_t>(kMinTableSize),
                                   static_cast<apr_int64_t>(kMaxTableSize)));
    }
    return nullptr;
}

bool valid_ipset_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxIPSetName) {
        return false;
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) {
            return false;
        }
    }
    return true;
}

const char* set_ipset(cmd_parms* cmd, void*, const char* name4, const char* name6) {
    if (const char* error = server_only(cmd)) {
        return error;
    }
    ServerConfig& config = config_of(cmd);
    if (!strcasecmp(name4, "none")) {
        if (name6) {
            return refuse(cmd, name6, "'none' takes no second set name");
        }
        config.ipset_given = 1;
        config.ipset4 = config.ipset6 = nullptr;
        return nullptr;
    }
    for (const char* name : {name4, name6}) {
        if (name && !valid_ipset_name(name)) {
            return refuse(cmd, name,
                          "expected an ipset name of 1-31 letters, digits, '_', '-', '.'");
        }
    }
    config.ipset_given = 1;
    config.ipset4 = name4;
    config.ipset6 = name6 ? name6 : apr_pstrcat(cmd->pool, name4, "6", nullptr);
    return nullptr;
}

const char* set_control_socket(cmd_parms* cmd, void*, const char* value) {
    if (const char* error = server_only(cmd)) {
        return error;
    }
    if (!strcasecmp(value, "none")) {
        config_of(cmd).control_socket = "";
        return nullptr;
    }
    const char* path = ap_runtime_dir_relative(cmd->pool, value);
    if (!path || !*value || std::strlen(path) >= kMaxSocketPath) {
        return refuse(cmd, value,
                      apr_psprintf(cmd->pool, "expected a socket path of at most %d bytes, or none",
                                   static_cast<int>(kMaxSocketPath) - 1));
    }
    config_of(cmd).control_socket = path;
    return nullptr;
}

// The group whose members may use xmlrpcguardctl besides root. httpd's own User and
// Group are refused at check_config (see check_control_group), since that is also
// PHP's on Debian.
const char* set_control_group(cmd_parms* cmd, void*, const char* value) {
    if (const char* error = server_only(cmd)) {
        return error;
    }
    if (!strcasecmp(value, "none")) {
        config_of(cmd).control_group = -1;
        return nullptr;
    }
    const group* found = getgrnam(value);
    if (!found) {
        return refuse(cmd, value, "no such group (a group name from /etc/group, or none)");
    }
    config_of(cmd).control_group = static_cast<long>(found->gr_gid);
    return nullptr;
}

const char* set_kernel_ban(cmd_parms* cmd, void*, const char* value) {
    if (!strcasecmp(value, "on")) {
        config_of(cmd).kernel_ban = 1;
    } else if (!strcasecmp(value, "off")) {
        config_of(cmd).kernel_ban = 0;
    } else {
        return refuse(cmd, value, "expected On or Off");
    }
    return nullptr;
}

const char* set_ipv6_prefix(cmd_parms* cmd, void*, const char* value) {
    std::int64_t prefix = 0;
    if (!parse_count(value, kMinIPv6Prefix, 128, prefix)) {
        return refuse(
            cmd, value,
            apr_psprintf(cmd->pool, "expected a prefix length from %d to 128", kMinIPv6Prefix));
    }
    config_of(cmd).ipv6_prefix = static_cast<int>(prefix);
    return nullptr;
}

// XmlRpcGuardCluster redis://[user[:password]@]host[:port][/db] [key-prefix]
const char* set_cluster(cmd_parms* cmd, void*, const char* url, const char* prefix) {
    if (const char* error = server_only(cmd)) {
        return error;
    }
    std::string why;
    if (!parse_redis_url(url, why)) {
        return refuse(cmd, url, apr_pstrdup(cmd->pool, why.c_str()));
    }
    if (prefix && !valid_redis_key_prefix(prefix)) {
        return refuse(cmd, prefix,
                      "expected a key prefix of 1-64 letters, digits, ':', '_', '-', '.'");
    }
    config_of(cmd).cluster_url = url;
    config_of(cmd).cluster_prefix = prefix ? prefix : kDefaultRedisKeyPrefix;
    return nullptr;
}

const char* set_cluster_password_file(cmd_parms* cmd, void*, const char* value) {
    if (const char* error = server_only(cmd)) {
        return error;
    }
    if (value[0] != '/' || std::strlen(value) > 1000) {
        return refuse(cmd, value, "expected an absolute file path (at most 1000 bytes)");
    }
    config_of(cmd).cluster_password_file = value;
    return nullptr;
}

void* offset(std::size_t field) {
    return reinterpret_cast<void*>(field);
}

// httpd's command table keeps every handler as one generic function pointer type.
// (via void(*)(), the one function pointer type that converts to any other quietly).
template <class Handler>
cmd_func as_cmd(Handler handler) {
    return reinterpret_cast<cmd_func>(reinterpret_cast<void (*)()>(handler));
}

}  // namespace

const char* refuse_value(cmd_parms* cmd, const char* value, const char* why) {
    return refuse(cmd, value, why);
}

bool parse_whole_number(const char* text, std::int64_t min, std::int64_t max, std::int64_t& out) {
    return parse_count(text, min, max, out);
}

const char* add_cidr(cmd_parms* cmd, apr_array_header_t* list, const char* value) {
    auto cidr = Cidr::parse(value);
    if (!cidr) {
        return refuse(cmd, value,
                      "expected an address or CIDR block (198.18.0.0/15, 2001:db8::/32)");
    }
    *static_cast<Cidr*>(apr_array_push(list)) = *cidr;
    return nullptr;
}

const command_rec kDirectives[] = {
    AP_INIT_TAKE1("XmlRpcGuard", as_cmd(set_mode), nullptr, RSRC_CONF,
                  "On | Off | DetectOnly: guard this server's XML-RPC and login endpoints"),
    AP_INIT_TAKE1("XmlRpcGuardFindTime", as_cmd(set_duration),
                  offset(offsetof(ServerConfig, findtime)), RSRC_CONF,
                  "window in which offences are counted (3600, 10m, 1h, 1d)"),
    AP_INIT_TAKE1("XmlRpcGuardMaxRetry", as_cmd(set_maxretry), nullptr, RSRC_CONF,
                  "offences within the window that ban the client"),
    AP_INIT_TAKE1("XmlRpcGuardBanTime", as_cmd(set_duration),
                  offset(offsetof(ServerConfig, bantime)), RSRC_CONF,
                  "how long a ban lasts (3600, 10m, 1h, 1d)"),
    AP_INIT_ITERATE("XmlRpcGuardIgnoreIP", as_cmd(add_ignore), nullptr, RSRC_CONF,
                    "addresses or CIDR blocks never counted or banned (adds to the server's list)"),
    AP_INIT_TAKE1("XmlRpcGuardXmlRpcPath", as_cmd(set_path),
                  offset(offsetof(ServerConfig, xmlrpc_path)), RSRC_CONF,
                  "path segment of the XML-RPC endpoint (default xmlrpc.php)"),
    AP_INIT_TAKE1("XmlRpcGuardLoginPath", as_cmd(set_path),
                  offset(offsetof(ServerConfig, login_path)), RSRC_CONF,
                  "path segment of the login form (default wp-login.php)"),
    AP_INIT_TAKE1("XmlRpcGuardTableSize", as_cmd(set_table_size), nullptr, RSRC_CONF,
                  "addresses held in shared memory (server-wide)"),
    AP_INIT_TAKE12("XmlRpcGuardIPSet", as_cmd(set_ipset), nullptr, RSRC_CONF,
                   "NAME4 [NAME6] | none: kernel ipsets for bans (server-wide)"),
    AP_INIT_TAKE1("XmlRpcGuardIPv6Prefix", as_cmd(set_ipv6_prefix), nullptr, RSRC_CONF,
                  "IPv6 offenders are counted and banned per /N (default 64)"),
    AP_INIT_TAKE1("XmlRpcGuardControlSocket", as_cmd(set_control_socket), nullptr, RSRC_CONF,
                  "PATH | none: the ban helper's socket for xmlrpcguardctl (server-wide; "
                  "default xmlrpcguard.sock in the runtime directory)"),
    AP_INIT_TAKE1("XmlRpcGuardControlGroup", as_cmd(set_control_group), nullptr, RSRC_CONF,
                  "GROUP | none: members may use xmlrpcguardctl besides root (server-wide; "
                  "never httpd's User or Group)"),
    AP_INIT_TAKE1("XmlRpcGuardKernelBan", as_cmd(set_kernel_ban), nullptr, RSRC_CONF,
                  "On | Off: also ban this server's offenders in the kernel set (default On; "
                  "Off keeps bans in httpd, e.g. behind a proxy)"),
    AP_INIT_TAKE1("XmlRpcGuardBanTimeIncrement", as_cmd(set_increment), nullptr, RSRC_CONF,
                  "On | Off: each new ban of the same address lasts longer (default Off)"),
    AP_INIT_TAKE1("XmlRpcGuardBanTimeFactor", as_cmd(set_factor), nullptr, RSRC_CONF,
                  "with the increment on, ban n lasts bantime * factor^(n-1) (default 2)"),
    AP_INIT_TAKE1("XmlRpcGuardBanTimeMax", as_cmd(set_ban_duration),
                  offset(offsetof(ServerConfig, ban_max)), RSRC_CONF,
                  "the longest an incremented ban lasts (default 1w)"),
    AP_INIT_TAKE1("XmlRpcGuardBanTimeJitter", as_cmd(set_jitter), nullptr, RSRC_CONF,
                  "a random extra of up to this much on every ban (default 0)"),
    AP_INIT_TAKE1("XmlRpcGuardStateFile", as_cmd(set_state_file), nullptr, RSRC_CONF,
                  "PATH | none: where the ban helper keeps bans and counts across stops "
                  "(server-wide; default /var/lib/apache2/xmlrpcguard/state)"),
    AP_INIT_TAKE12("XmlRpcGuardCluster", as_cmd(set_cluster), nullptr, RSRC_CONF,
                   "redis://[user[:password]@]host[:port][/db] [key-prefix]: share offences and "
                   "bans with the other nodes through Redis (server-wide; default: alone)"),
    AP_INIT_TAKE1("XmlRpcGuardClusterPasswordFile", as_cmd(set_cluster_password_file), nullptr,
                  RSRC_CONF,
                  "PATH: the Redis password, read by the ban helper as root (server-wide)"),
    AP_INIT_TAKE1("XmlRpcGuardClusterNameKey", as_cmd(set_cluster_name_key), nullptr, RSRC_CONF,
                  "PATH: the fleet's secret for user-name hashes (root's, 0600, at least 32 "
                  "bytes): user names counted and locked fleet-wide (server-wide)"),
    AP_INIT_TAKE1("XmlRpcGuardPrefixBan", as_cmd(set_prefix_ban), nullptr, RSRC_CONF,
                  "On | Off: ban a whole IPv4 /24 or IPv6 /48 whose addresses offend together "
                  "(default On)"),
    AP_INIT_TAKE2("XmlRpcGuardPrefixBanSize", as_cmd(set_prefix_ban_size), nullptr, RSRC_CONF,
                  "IPV4BITS IPV6BITS: the prefixes counted and banned (server-wide; default 24 "
                  "48)"),
    AP_INIT_TAKE1("XmlRpcGuardPrefixBanThreshold", as_cmd(set_prefix_ban_threshold), nullptr,
                  RSRC_CONF,
                  "distinct addresses of one prefix, each at maxretry, that ban it (default 8)"),
    AP_INIT_TAKE12("XmlRpcGuardPrefixBanIPSet", as_cmd(set_prefix_ban_ipset), nullptr, RSRC_CONF,
                   "NAME4 NAME6 | none: hash:net ipsets for prefix bans (server-wide; default "
                   "xmlrpcguard-net xmlrpcguard-net6)"),
    XRG_USER_DIRECTIVES,
    {nullptr, nullptr, nullptr, 0, RAW_ARGS, nullptr},
};

void* create_server_config(apr_pool_t* pool, server_rec*) {
    auto* config = static_cast<ServerConfig*>(apr_pcalloc(pool, sizeof(ServerConfig)));
    config->mode = GuardMode::Unset;
    config->findtime = config->maxretry = config->bantime = kUnset;
    config->ipv6_prefix = -1;
    config->ignore = apr_array_make(pool, 4, sizeof(Cidr));
    config->table_size = kUnset;
    config->control_group = -1;
    config->kernel_ban = -1;
    config->ban_increment = -1;
    config->ban_factor = -1;
    config->ban_max = kUnset;
    config->ban_jitter = kUnset;
    init_prefix_config(config->prefix);
    config->users = create_user_config(pool);
    return config;
}

void* merge_server_config(apr_pool_t* pool, void* base_config, void* add_config) {
    const auto& base = *static_cast<const ServerConfig*>(base_config);
    const auto& add = *static_cast<const ServerConfig*>(add_config);
    auto* merged = static_cast<ServerConfig*>(apr_palloc(pool, sizeof(ServerConfig)));
    *merged = add;
    auto pick = [](auto mine, auto theirs, auto unset) { return mine == unset ? theirs : mine; };
    merged->mode = pick(add.mode, base.mode, GuardMode::Unset);
    merged->findtime = pick(add.findtime, base.findtime, kUnset);
    merged->maxretry = pick(add.maxretry, base.maxretry, kUnset);
    merged->bantime = pick(add.bantime, base.bantime, kUnset);
    merged->ipv6_prefix = pick(add.ipv6_prefix, base.ipv6_prefix, -1);
    merged->xmlrpc_path = add.xmlrpc_path ? add.xmlrpc_path : base.xmlrpc_path;
    merged->login_path = add.login_path ? add.login_path : base.login_path;
    merged->ignore = apr_array_append(pool, base.ignore, add.ignore);
    merged->kernel_ban = pick(add.kernel_ban, base.kernel_ban, -1);
    merged->ban_increment = pick(add.ban_increment, base.ban_increment, -1);
    merged->ban_factor = add.ban_factor < 0 ? base.ban_factor : add.ban_factor;
    merged->ban_max = pick(add.ban_max, base.ban_max, kUnset);
    merged->ban_jitter = pick(add.ban_jitter, base.ban_jitter, kUnset);
    merged->state_file = base.state_file;
    // Server-wide values are read from the main server only.
    merged->table_size = base.table_size;
    merged->ipset_given = base.ipset_given;
    merged->ipset4 = base.ipset4;
    merged->ipset6 = base.ipset6;
    merged->control_socket = base.control_socket;
    merged->control_group = base.control_group;
    merged->cluster_url = base.cluster_url;
    merged->cluster_prefix = base.cluster_prefix;
    merged->cluster_password_file = base.cluster_password_file;
    merged->cluster_name_key = base.cluster_name_key;
    merge_prefix_config(merged->prefix, base.prefix, add.prefix);
    merged->users = merge_user_config(pool, base.users, add.users);
    return merged;
}

bool check_control_group(server_rec* main_server) noexcept {
    long group = httpd::config_of(main_server).control_group;
    if (group < 0 || static_cast<gid_t>(group) != ap_unixd_config.group_id) {
        return true;
    }
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, main_server,
                 "XRG0006: XmlRpcGuardControlGroup: invalid value: it names httpd's own Group "
                 "(gid %ld), which PHP runs as too; control is for administrators only",
                 group);
    return false;
}

bool check_cluster(server_rec* main_server) noexcept {
    const ServerConfig& config = httpd::config_of(main_server);
    if (!config.cluster_url || config.ipset4 || !config.ipset_given) {
        return true;
    }
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, main_server,
                 "XRG0400: XmlRpcGuardCluster: only the ban helper speaks to Redis, and "
                 "XmlRpcGuardIPSet none runs no helper");
    return false;
}

void resolve_defaults(server_rec* main_server) {
    for (server_rec* s = main_server; s; s = s->next) {
        ServerConfig& config = httpd::config_of(s);
        if (config.mode == GuardMode::Unset)
            config.mode = GuardMode::Off;
        if (config.findtime == kUnset)
            config.findtime = kDefaultFindTime;
        if (config.maxretry == kUnset)
            config.maxretry = kDefaultMaxRetry;
        if (config.bantime == kUnset)
            config.bantime = kDefaultBanTime;
        if (config.ipv6_prefix < 0)
            config.ipv6_prefix = kDefaultIPv6Prefix;
        if (config.kernel_ban < 0)
            config.kernel_ban = 1;
        if (config.ban_increment < 0)
            config.ban_increment = 0;
        if (config.ban_factor < 0)
            config.ban_factor = kDefaultBanTimeFactor;
        if (config.ban_max == kUnset)
            config.ban_max = kDefaultBanTimeMax;
        if (config.ban_jitter == kUnset)
            config.ban_jitter = 0;
        if (!config.state_file)
            config.state_file = kDefaultStateFile;
        if (!config.xmlrpc_path)
            config.xmlrpc_path = kDefaultXmlRpcPath;
        if (!config.login_path)
            config.login_path = kDefaultLoginPath;
        if (config.table_size == kUnset)
            config.table_size = kDefaultTableSize;
        if (!config.control_socket)
            config.control_socket =
                ap_runtime_dir_relative(s->process->pconf, kDefaultControlSocket);
        resolve_prefix_defaults(config.prefix);
        resolve_user_defaults(*config.users);
        if (!config.ipset_given) {
            config.ipset_given = 1;
            config.ipset4 = kDefaultIPSet4;
            config.ipset6 = kDefaultIPSet6;
        }
    }
}

}  // namespace xmlrpcguard::httpd
