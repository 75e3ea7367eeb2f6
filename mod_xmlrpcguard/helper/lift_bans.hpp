// Every ban of the shared table lifted at once: an operator's flush, here or, through
// the cluster's stream, on another node.
#pragma once

#include <cstddef>
#include <cstdint>

#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

// Returns how many bans were running.
std::size_t lift_all_bans(WindowTable& table, std::int64_t now);

}  // namespace xmlrpcguard
