// What a node does with an entry of the fleet's ban stream. Redis is not trusted
// blindly: whoever can write to it can write the stream, so an entry is judged like a
// child's message before it touches the shared table or the kernel: exact fields, a
// prefix no wider than /32 for IPv6, never a protected address (loopback, this
// server's own, XmlRpcGuardIgnoreIP, a network holding one), and the helper's rate
// ceiling on kernel adds. A ban over that ceiling is kept (a bounded queue) and
// applied when the ceiling allows; unbans and flushes have a ceiling of their own
// (LiftCeiling), so a compromised Redis cannot lift every ban at once.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "cluster_link.hpp"
#include "lift_ceiling.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/ban_request.hpp"
#include "xmlrpcguard/token_bucket.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

enum class ClusterOutcome : std::uint8_t {
    Applied,       // the table (so httpd's children at once) and the kernel now hold it
    Unchanged,     // already so here (this node's own ban, or one applied before)
    Expired,       // a ban whose end has passed (read while catching up)
    Skipped,       // this node's own unban or flush, done here already
    Malformed,     // not one well-formed entry
    Protected,     // a protected address: never banned
    OverRate,      // above the helper's ceiling on kernel adds, and no room to keep it: dropped
    Failed,        // the kernel refused (the table holds the ban; the reconcile retries)
    Deferred,      // above the ceiling on kernel adds: kept, applied when it refills
    LiftOverRate,  // an unban or flush above the ceiling on lifts: not applied
};
const char* to_string(ClusterOutcome outcome) noexcept;

// An entry's address and prefix, checked as decode() checks a child's message.
std::optional<BanRequest> cluster_key(std::string_view address, std::string_view prefix);

struct ClusterApplierLimits {
    LiftCeilingSettings lifts;
    // The stream's share of the helper's ceiling on kernel adds (200/s, burst 2000):
    // half, so that whatever Redis sends, the node's own bans keep the other half.
    std::uint32_t bans_per_second = 100;
    std::uint32_t ban_burst = 1000;
    // Stream bans kept while the ceiling on kernel adds is reached: the helper's burst
    // twice over. Past it a ban is dropped (OverRate): memory stays bounded whatever
    // Redis sends.
    std::size_t deferred_limit = 4096;
};

class ClusterApplier {
  public:
    ClusterApplier(WindowTable table, BanHelper& helper, std::string own_node,
                   ClusterApplierLimits limits = {})
        : table_(table),
          helper_(helper),
          own_node_(std::move(own_node)),
          limits_(limits),
          lifts_(limits.lifts),
          ban_tokens_(limits.bans_per_second, limits.ban_burst) {}

    // `why` says what was refused or failed.
    ClusterOutcome apply(const ClusterEntry& entry, std::int64_t now, std::string& why);

    // Applies the deferred bans, oldest first, as far as the ceiling allows now (those
    // ended meanwhile, or banned meanwhile, are dropped). How many reached the table.
    std::size_t retry_deferred(std::int64_t now);
    std::size_t deferred() const noexcept { return deferred_.size(); }

    // The kept bans as text, one "address prefix until reason" line each, oldest first:
    // what the resume file holds after the stream id, so a restarted helper keeps them.
    std::string kept_lines() const;
    // Lines written by kept_lines(), judged again like a stream entry (a key that fits,
    // never protected, an end within the max; ended ones dropped) and kept, never
    // placed at once: retry_deferred() applies them within the ceiling. At most
    // deferred_limit are kept. How many lines were refused (malformed, protected, over).
    std::size_t restore(std::string_view lines, std::int64_t now);

  private:
    struct DeferredBan {
        BanRequest request;
        std::int64_t until = 0;
        BanReason reason = BanReason::Manual;
    };

    // `may_place`: false keeps an admitted ban in the queue even when it is empty.
    ClusterOutcome ban(const ClusterEntry& entry, std::int64_t now, std::string& why,
                       bool may_place = true);
    // Into the kernel (within the ceiling) and the table; the table only when the
    // ceiling allowed it.
    HelperVerdict place(DeferredBan& ban, std::int64_t now, std::string& why);

    WindowTable table_;
    BanHelper& helper_;
    std::string own_node_;
    ClusterApplierLimits limits_;
    LiftCeiling lifts_;
    TokenBucket ban_tokens_;
    std::deque<DeferredBan> deferred_;
};

}  // namespace xmlrpcguard
