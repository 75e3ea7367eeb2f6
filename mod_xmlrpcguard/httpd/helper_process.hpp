// The privileged ban helper: a process forked from the root parent at post_config
// (httpd's mod_cgid does the same for its daemon) that keeps CAP_NET_ADMIN and
// nothing else, runs as the httpd User, and puts bans into the kernel's ipsets.
// Children reach it over a socket pair made by the parent (nothing on the filesystem
// to connect to) with fixed-size datagrams sent without waiting. It is restarted by
// the parent if it dies, replaced at every restart, and re-adds from the shared table
// whatever the kernel may lack, so no ban is lost in between.
#pragma once

#include <httpd.h>

#include <cstdint>

#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/address_set.hpp"
#include "xmlrpcguard/name_report.hpp"
#include "xmlrpcguard/offence_report.hpp"

namespace xmlrpcguard::httpd {

// The parent, post_config: ends the previous generation's helper and starts this
// one's, when some server has XmlRpcGuard On and the ipsets are not "none".
int start_ban_helper(apr_pool_t* pconf, server_rec* main_server) noexcept;

// Every httpd child at child_init: children send bans, never read them.
void close_helper_end_in_child() noexcept;

// Any child: a new ban for the kernel. Never blocks; if the channel is full the ban
// still holds in-process, and the helper finds it in the table within a second.
void send_ban(const Address& key, unsigned ipv6_prefix, std::uint32_t seconds) noexcept;
// XmlRpcGuardCluster: one offence report to the helper, for the fleet's windows.
void send_offences(const OffenceReport& report) noexcept;
// And one failure of a user name, for the fleet's per-name window (cluster_names.cpp).
void send_name_failure(const NameMessage& message) noexcept;
// The same for a prefix ban (XmlRpcGuardPrefixBan).
void send_prefix_ban(const Cidr& prefix, std::uint32_t seconds) noexcept;

}  // namespace xmlrpcguard::httpd
