// The one rule for "may this key and prefix be banned as an offender": used by every
// door a ban comes in by (a child's ban message, a child's offence report, an entry
// of the cluster's stream, an operator's command), so that no door is wider than
// another.
#pragma once

#include <cstdint>

#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/ban_request.hpp"

namespace xmlrpcguard {

// True when `key`/`prefix` is an offender key the helper may ban: an IPv4 address
// exactly /32, or an IPv6 network of /32 (kMinIPv6BanPrefix) to /128, with no bits
// set past the prefix. Says nothing about protected addresses (BanHelper::is_protected).
bool ban_key_fits(const Address& key, unsigned prefix) noexcept;

// The ban of `address`'s offender key, as the children key it: IPv4 as is (/32),
// IPv6 masked to `ipv6_prefix`.
BanRequest offender_ban(const Address& address, unsigned ipv6_prefix,
                        std::uint32_t seconds) noexcept;

}  // namespace xmlrpcguard
