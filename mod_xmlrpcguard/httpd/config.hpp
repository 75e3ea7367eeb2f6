// Directives, per-server config and the vhost-over-server merge.
#pragma once

#include <httpd.h>  // first: the other httpd headers need its types

#include <http_config.h>

#include <cstddef>
#include <cstdint>

#include "glue.hpp"
#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/address_set.hpp"
#include "xmlrpcguard/ban_request.hpp"
#include "xmlrpcguard/ban_time.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard::httpd {

enum class GuardMode : int { Unset = -1, Off = 0, On = 1, DetectOnly = 2 };
const char* to_string(GuardMode mode) noexcept;

inline constexpr std::uint32_t kDefaultFindTime = 3600;
inline constexpr std::uint32_t kDefaultMaxRetry = 3;
inline constexpr std::uint32_t kDefaultBanTime = 86400;
inline constexpr unsigned kDefaultIPv6Prefix = 64;
inline constexpr std::size_t kDefaultTableSize = 65536;
inline constexpr const char* kDefaultXmlRpcPath = "xmlrpc.php";
inline constexpr const char* kDefaultLoginPath = "wp-login.php";
inline constexpr const char* kDefaultIPSet4 = "xmlrpcguard";
inline constexpr const char* kDefaultIPSet6 = "xmlrpcguard6";
inline constexpr const char* kDefaultControlSocket = "xmlrpcguard.sock";
inline constexpr std::uint32_t kDefaultBanTimeMax = 604800;  // 1w
inline constexpr double kDefaultBanTimeFactor = 2.0;
// Debian's home for httpd's variable state; not ServerRoot-relative (DefaultStateDir
// is /etc/apache2/state there), and kept across reboots and package upgrades.
inline constexpr const char* kDefaultStateFile = "/var/lib/apache2/xmlrpcguard/state";
inline constexpr std::size_t kMaxSocketPath = 108;  // sizeof(sockaddr_un::sun_path)
inline constexpr int kMinIPv6Prefix = kMinIPv6BanPrefix;

// XmlRpcGuardPrefixBan* (prefix_config.cpp). -1 = unset.
inline constexpr int kDefaultPrefixBanIPv4 = 24;
inline constexpr int kDefaultPrefixBanIPv6 = 48;
inline constexpr std::int64_t kDefaultPrefixBanThreshold = 8;
inline constexpr const char* kDefaultPrefixIPSet4 = "xmlrpcguard-net";
inline constexpr const char* kDefaultPrefixIPSet6 = "xmlrpcguard-net6";
struct PrefixBanConfig {
    int enabled;             // per vhost: 0 Off, 1 On
    std::int64_t threshold;  // per vhost: distinct members
    int ipv4_bits;           // server-wide
    int ipv6_bits;           // server-wide
    int ipset_given;         // server-wide: 0 unset, 1 said
    const char* ipset4;      // nullptr after "none": prefix bans stay in httpd
    const char* ipset6;
};

// Plain data in pool memory. Every field starts "unset" (-1 / nullptr) so the merge
// can tell "not said in this vhost" from "said"; resolve_defaults() fills what is
// still unset once the whole configuration is read.
struct ServerConfig {
    GuardMode mode;
    std::int64_t findtime;
    std::int64_t maxretry;
    std::int64_t bantime;
    int ipv6_prefix;
    const char* xmlrpc_path;
    const char* login_path;
    apr_array_header_t* ignore;  // of Cidr; a vhost's list adds to the server's

    // Server-wide (read from the main server only).
    std::int64_t table_size;
    int ipset_given;     // 0 = unset, 1 = said
    const char* ipset4;  // nullptr after "none"
    const char* ipset6;
    const char* control_socket;  // nullptr = unset, "" after "none"
    long control_group;          // gid admitted to the control socket besides root; -1 = none
    int kernel_ban;              // per vhost: -1 unset, 0 bans stay in httpd, 1 the kernel too
    int ban_increment;           // per vhost: -1 unset, 0 Off, 1 On
    double ban_factor;           // per vhost: < 0 unset
    std::int64_t ban_max;        // per vhost
    std::int64_t ban_jitter;     // per vhost; 0 = none
    const char* state_file;      // server-wide: nullptr = unset, "" after "none"
    // Server-wide, XmlRpcGuardCluster: nullptr = one node alone (the default).
    const char* cluster_url;            // redis://..., checked at configuration time
    const char* cluster_prefix;         // Redis key prefix
    const char* cluster_password_file;  // read by the helper as root; nullptr = none
    const char* cluster_name_key;       // XmlRpcGuardClusterNameKey; nullptr = names per node
    PrefixBanConfig prefix;
    struct UserConfig* users;  // per-user-name locks and the alarm (user_config.hpp)

    WindowRule rule() const noexcept {
        return {static_cast<std::uint32_t>(findtime), static_cast<std::uint32_t>(maxretry)};
    }
    BanTimePolicy ban_policy() const noexcept {
        BanTimePolicy policy;
        policy.bantime = static_cast<std::uint32_t>(bantime);
        policy.increment = ban_increment == 1;
        policy.factor = ban_factor;
        policy.max = static_cast<std::uint32_t>(ban_max);
        policy.jitter = static_cast<std::uint32_t>(ban_jitter);
        return policy;
    }
    bool ignores(const Address& client) const noexcept;
};

extern const command_rec kDirectives[];

// For the directive handlers of other glue files (user_config.cpp): the refusal that
// names the directive, a whole number in [min, max], a CIDR appended to a list.
const char* refuse_value(cmd_parms* cmd, const char* value, const char* why);
bool parse_whole_number(const char* text, std::int64_t min, std::int64_t max, std::int64_t& out);
const char* add_cidr(cmd_parms* cmd, apr_array_header_t* list, const char* value);
bool cidr_list_contains(const apr_array_header_t* list, const Address& client) noexcept;

void* create_server_config(apr_pool_t* pool, server_rec* s);
void* merge_server_config(apr_pool_t* pool, void* base, void* add);

// False (and an error logged that names the directive) when XmlRpcGuardControlGroup
// names httpd's own Group: on Debian that is also PHP's, and control is for admins.
bool check_control_group(server_rec* main_server) noexcept;

// False (and an error logged that names the directive) when XmlRpcGuardCluster is
// set but no ban helper would run to speak to Redis (XmlRpcGuardIPSet none).
bool check_cluster(server_rec* main_server) noexcept;

// Fills every still-unset value of every server with its default.
void resolve_defaults(server_rec* main_server);

inline ServerConfig& config_of(const server_rec* s) {
    return *static_cast<ServerConfig*>(ap_get_module_config(s->module_config, &xmlrpcguard_module));
}

}  // namespace xmlrpcguard::httpd
