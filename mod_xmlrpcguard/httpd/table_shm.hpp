// The WindowTable's shared memory (and the GuardCounters after it): created in the
// parent at post_config, inherited
// by every child through fork, and kept across graceful restarts in httpd's
// retained data (the module itself is unloaded and reloaded at every restart).
#pragma once

#include <httpd.h>

#include <cstddef>
#include <optional>

#include "xmlrpcguard/guard_counters.hpp"
#include "xmlrpcguard/prefix_table.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard::httpd {

// Attaches this generation of the module to the table of `capacity` entries:
// reuses the retained segment when its size still fits, otherwise makes a new one,
// copies the entries over and destroys the old. Logs and returns a non-OK status
// on failure.
int attach_shared_table(server_rec* main_server, std::size_t capacity) noexcept;

// The table of this process; empty until post_config has attached it.
std::optional<WindowTable> shared_table() noexcept;

// The counters beside it; null until post_config has attached them.
GuardCounters* shared_counters() noexcept;

// The prefix bans after the counters (XmlRpcGuardPrefixBan); empty until post_config.
std::optional<PrefixTable> shared_prefixes() noexcept;

// Adds to a shared counter, if there are counters yet.
inline void count(Counter counter, std::uint64_t n = 1) noexcept {
    if (GuardCounters* counters = shared_counters()) {
        counters->add(counter, n);
    }
}

}  // namespace xmlrpcguard::httpd
