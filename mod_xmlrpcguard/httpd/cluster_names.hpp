// Fleet-wide user-name locks (XmlRpcGuardCluster + XmlRpcGuardClusterNameKey), the glue's
// part: the directive (checked at configuration time, also by configtest), the key read
// again by the ban helper as root before it drops its privileges (the children never
// hold it: the parent wipes what it read), a child's report of a name failure, and what
// the helper's ClusterNode needs to count and apply names (fleet_names.hpp).
#pragma once

#include <httpd.h>  // first: the other httpd headers need its types

#include <http_config.h>

#include <cstdint>
#include <string_view>

namespace xmlrpcguard {
class ClusterNode;
}

namespace xmlrpcguard::httpd {

struct GuardedExchange;

const char* set_cluster_name_key(cmd_parms* cmd, void*, const char* value);

// In the helper, as full root, before the privileges go (helper_main).
void read_fleet_name_key(server_rec* main_server) noexcept;
// In the helper, once its ClusterNode runs: names counted and locked fleet-wide when
// the key was read and some vhost has XmlRpcGuardUsers On.
void enable_fleet_names(server_rec* main_server, ClusterNode& node);

// In a child, for each failure of a name it records (user_guard.cpp): one report to the
// helper when this server is a fleet's node with a name key; nothing otherwise.
void report_name_failure(const GuardedExchange& exchange, std::string_view name,
                         std::uint64_t local_hash) noexcept;

}  // namespace xmlrpcguard::httpd
