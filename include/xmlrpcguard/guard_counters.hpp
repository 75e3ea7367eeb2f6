// Counters since the shared memory was made, which every httpd process adds to and
// the status page, the metrics and the control tool read. They live in shared
// memory beside the WindowTable so every child reports the same numbers.
//
// Who writes: any process, with relaxed atomic adds (a counter is a sum; no reader
// needs it ordered against anything else). Who reads: anyone, any time.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace xmlrpcguard {

enum class Counter : std::uint8_t {
    XmlRpcExchanges,    // POSTs to the XML-RPC path, scanned both ways
    LoginExchanges,     // POSTs to the login path, answer searched for the marker
    MulticallRequests,  // system.multicall requests among the XML-RPC ones
    AuthFailures,       // offences by kind
    PingbackErrors,
    LoginFailures,
    Bans,               // addresses newly banned by an offence
    DeniedRequests,     // requests of a banned address answered 403 at once
    WithheldAnswers,    // answers replaced by 403: banned while in flight
    UnscannedEncoded,   // answers not scanned: Content-Encoding set by the backend
    RequestsMalformed,  // scanner verdicts other than complete
    RequestsOverLimit,
    ResponsesMalformed,
    ResponsesOverLimit,
    HelperMessagesSent,     // ban messages handed to the ban helper
    HelperMessagesDropped,  // not accepted (channel full, helper down): its reconcile catches up
    // Bans kept in httpd (403) and never sent to the helper: the client's address came
    // from a proxy's header (mod_remoteip), so its packets reach us from the proxy and a
    // kernel entry would stop nothing of theirs, or the vhost says XmlRpcGuardKernelBan Off.
    BansForwardedHttpdOnly,
    BansKernelOffHttpdOnly,
    // Guarded POSTs whose peer is loopback or ignored, with no module naming another
    // client: never counted, and the sign of a proxy in front without mod_remoteip.
    PostsFromIgnoredPeers,
    // XmlRpcGuardCluster (several servers through Redis). The children count their
    // offence reports to the helper; the helper (alone) counts the rest and sets the
    // two last ones, the link's state, with set().
    ClusterReportsSent,      // offence reports handed to the helper
    ClusterReportsDropped,   // not accepted (channel full, helper down): local windows still ban
    ClusterOffencesSent,     // offences the helper added to Redis's shared windows
    ClusterOffencesDropped,  // dropped from the helper's bounded queue, oldest first
    ClusterBansPublished,    // bans this node's batches crossed in Redis
    ClusterEntriesApplied,   // ban, unban, flush entries of the stream applied here
    ClusterEntriesRefused,   // refused: malformed, protected, over the rate ceiling
    ClusterConnected,        // 1 while the helper's link to Redis is up (set, not added)
    ClusterStateSince,       // when the link last came up or went down (seconds since epoch)
    // The helper's ceilings on what the children and Redis may make it do (issue 17):
    ClusterReportsRefused,   // children's reports refused: malformed, protected, a rule not
                             // configured
    ClusterReportsOverRate,  // children's reports over their ceiling: dropped before the queue
    ClusterLiftsRefused,     // stream unbans and flushes over the lift ceiling: not applied
    ClusterBansDeferred,     // stream bans over the kernel rate ceiling: kept, applied later
};
inline constexpr std::size_t kCounterCount = 32;

struct CounterInfo {
    std::string_view name;  // snake_case, the JSON key and the metric's stem
    std::string_view help;
};
const CounterInfo& info(Counter counter) noexcept;

using CounterValues = std::array<std::uint64_t, kCounterCount>;

class GuardCounters {
  public:
    // Bytes the counters need in a region (64-byte aligned by the caller).
    static std::size_t region_size() noexcept;

    // Formats `base` unless it already holds counters of this layout (a region kept
    // across a graceful restart keeps its numbers).
    static GuardCounters attach(void* base, std::size_t bytes);

    void add(Counter counter, std::uint64_t n = 1) noexcept;
    // For the two cluster gauges, which only the helper writes.
    void set(Counter counter, std::uint64_t value) noexcept;
    CounterValues read() const noexcept;
    // Seconds since the epoch when the region was formatted.
    std::int64_t since() const noexcept;
    void restore(const CounterValues& values, std::int64_t since) noexcept;

    struct Block;

  private:
    explicit GuardCounters(Block* block) noexcept : block_(block) {}
    Block* block_;
};

}  // namespace xmlrpcguard
