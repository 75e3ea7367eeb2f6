// Prefix bans in the request path (XmlRpcGuardPrefixBan): the early-deny check, and at
// the end of an offending answer the note on the client's prefix, which may ban it,
// fold its addresses out of the table and tell the helper.
#pragma once

#include <httpd.h>

#include <cstdint>
#include <optional>

#include "exchange.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/ipset_sink.hpp"
#include "xmlrpcguard/prefix_ban_helper.hpp"

namespace xmlrpcguard::httpd {

// Is the client's prefix banned? Lock-free; counts and logs a denial when `r` is given.
bool prefix_denies(request_rec* r, const ServerConfig& config, const Address& key,
                   std::int64_t now) noexcept;

// Notes this answer's offences on the client's prefix (the vhost's XmlRpcGuardPrefixBan
// On). True when the prefix is banned now, by this call: the client's own entry was folded
// with the others and needs no ban of its own.
bool conclude_prefix(GuardedExchange& exchange, std::uint32_t offences, bool member_reached,
                     std::int64_t now);

// In the helper: creates the prefix sets, makes the PrefixBanHelper (kept in the
// caller's optionals, which outlive the loop) and hands it to `helper`. Without sets
// (XmlRpcGuardPrefixBanIPSet none, or they cannot be made) prefix messages are refused
// as malformed and prefix bans stay in httpd.
void attach_prefix_bans(server_rec* s, const AddressSet& never_ban, const PrefixTable* table,
                        BanHelper& helper, std::optional<IpsetSink>& sink,
                        std::optional<PrefixBanHelper>& prefixes);

// In the helper, beside the state file (XmlRpcGuardStateFile): the prefix bans of the
// table given to attach_prefix_bans are loaded by the first helper of httpd, and saved
// with the state.
void load_prefix_state(server_rec* s);
void save_prefix_state(server_rec* s);

}  // namespace xmlrpcguard::httpd
