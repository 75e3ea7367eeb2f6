// What a node does with an entry of the fleet's ban stream. Redis is not trusted
// blindly: whoever can write to it can write the stream, so an entry is judged like a
// child's message before it touches the shared table or the kernel: exact fields, a
// prefix no wider than /32 for IPv6, never a protected address (loopback, this
// server's own, XmlRpcGuardIgnoreIP, a network holding one), and the helper's rate
// ceiling on kernel adds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cluster_link.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/ban_request.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

enum class ClusterOutcome : std::uint8_t {
    Applied,    // the table (so httpd's children at once) and the kernel now hold it
    Unchanged,  // already so here (this node's own ban, or one applied before)
    Expired,    // a ban whose end has passed (read while catching up)
    Skipped,    // this node's own unban or flush, done here already
    Malformed,  // not one well-formed entry
    Protected,  // a protected address: never banned
    OverRate,   // above the helper's ceiling on kernel adds: dropped
    Failed,     // the kernel refused (the table holds the ban; the reconcile retries)
};
const char* to_string(ClusterOutcome outcome) noexcept;

// An entry's address and prefix, checked as decode() checks a child's message.
std::optional<BanRequest> cluster_key(std::string_view address, std::string_view prefix);

class ClusterApplier {
  public:
    ClusterApplier(WindowTable table, BanHelper& helper, std::string own_node)
        : table_(table), helper_(helper), own_node_(std::move(own_node)) {}

    // `why` says what was refused or failed.
    ClusterOutcome apply(const ClusterEntry& entry, std::int64_t now, std::string& why);

  private:
    ClusterOutcome ban(const ClusterEntry& entry, std::int64_t now, std::string& why);

    WindowTable table_;
    BanHelper& helper_;
    std::string own_node_;
};

}  // namespace xmlrpcguard
