// The XmlRpcGuardPrefixBan* directives: handlers, defaults, merge and the checks that
// need the whole configuration. config.cpp lists them in its directive table.
#pragma once

#include "config.hpp"
#include "xmlrpcguard/prefix_ban.hpp"
#include "xmlrpcguard/prefix_table.hpp"

namespace xmlrpcguard::httpd {

const char* set_prefix_ban(cmd_parms* cmd, void*, const char* value);
const char* set_prefix_ban_size(cmd_parms* cmd, void*, const char* ipv4, const char* ipv6);
const char* set_prefix_ban_threshold(cmd_parms* cmd, void*, const char* value);
const char* set_prefix_ban_ipset(cmd_parms* cmd, void*, const char* ipv4, const char* ipv6);

void init_prefix_config(PrefixBanConfig& config) noexcept;
// A vhost's own On/Off and threshold over the server's; the rest is server-wide.
void merge_prefix_config(PrefixBanConfig& merged, const PrefixBanConfig& base,
                         const PrefixBanConfig& add) noexcept;
void resolve_prefix_defaults(PrefixBanConfig& config) noexcept;

// configtest: the IPv6 prefix must be shorter than the XmlRpcGuardIPv6Prefix of every
// server with prefix bans On (its members are the offender keys). Logs the directive and
// the value; false on error.
bool check_prefix_config(server_rec* main_server) noexcept;

// The rule of a server (its sizes are the main server's, merged in).
PrefixRule prefix_rule(const ServerConfig& config) noexcept;

}  // namespace xmlrpcguard::httpd
