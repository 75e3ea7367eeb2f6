#include "xmlrpcguard/guard_counters.hpp"

#include <ctime>
#include <new>
#include <stdexcept>

namespace xmlrpcguard {

namespace {

constexpr std::uint64_t kMagic = 0x31544e43'47525800;  // "\0XRGCNT1" little-endian
constexpr std::uint32_t kLayoutVersion = 1;

constexpr std::array<CounterInfo, kCounterCount> kInfo{{
    {"xmlrpc_exchanges", "POST requests to the XML-RPC path, scanned both ways"},
    {"login_exchanges", "POST requests to the login path, answers searched for the failure marker"},
    {"multicall_requests", "system.multicall requests among the XML-RPC ones"},
    {"auth_failures",
     "offences: XML-RPC fault 403 (bad user name or password), one per faulted call"},
    {"pingback_errors", "offences: pingback.ping answered with a fault other than 48"},
    {"login_failures", "offences: wp-login.php answered 200 with the login_error marker"},
    {"bans", "addresses banned after reaching maxretry offences within findtime"},
    {"denied_requests", "requests of banned addresses answered 403 by the module"},
    {"withheld_answers", "answers replaced by 403 because their client was banned while they ran"},
    {"unscanned_encoded_answers", "answers not scanned because the backend set Content-Encoding"},
    {"requests_malformed", "XML-RPC requests the scanner found malformed"},
    {"requests_over_limit", "XML-RPC requests past the scanner's byte or depth cap"},
    {"responses_malformed", "XML-RPC answers the scanner found malformed"},
    {"responses_over_limit", "XML-RPC answers past the scanner's byte or depth cap"},
    {"helper_messages_sent", "ban messages handed to the privileged ban helper"},
    {"helper_messages_dropped",
     "ban messages the helper's channel refused (its reconcile catches up)"},
    {"bans_forwarded_httpd_only",
     "bans of a client named by a proxy's header (mod_remoteip): denied 403 in httpd, never "
     "sent to the kernel set (its packets come from the proxy)"},
    {"bans_kernel_off_httpd_only",
     "bans in a vhost with XmlRpcGuardKernelBan Off: denied 403 in httpd, never sent to the "
     "kernel set"},
    {"posts_from_ignored_peers",
     "guarded POSTs from a loopback or ignored peer with no forwarded client address: not "
     "counted (a proxy in front without mod_remoteip?)"},
    {"cluster_reports_sent", "offence reports handed to the ban helper for the cluster's windows"},
    {"cluster_reports_dropped",
     "offence reports the helper's channel refused (the local window still bans)"},
    {"cluster_offences_sent", "offences the ban helper added to the cluster's windows in Redis"},
    {"cluster_offences_dropped",
     "offences dropped from the ban helper's bounded queue while Redis was away, oldest first"},
    {"cluster_bans_published",
     "bans this node's offences decided in Redis, published to the fleet"},
    {"cluster_entries_applied", "ban, unban and flush entries of the cluster stream applied here"},
    {"cluster_entries_refused",
     "cluster stream entries refused: malformed, a protected address, over the rate ceiling"},
    {"cluster_connected", "1 while the ban helper's link to Redis is up, else 0"},
    {"cluster_state_since", "when the link to Redis last came up or went down (epoch seconds)"},
    {"cluster_reports_refused",
     "offence reports from children refused: malformed, a protected address, or a rule "
     "(findtime, maxretry, bantime, IPv6 prefix) no reporting vhost has"},
    {"cluster_reports_over_rate",
     "offence reports from children over the helper's ceiling on reports: dropped"},
    {"cluster_lifts_refused",
     "unban and flush entries of the cluster stream over the ceiling on lifts: not applied"},
    {"cluster_bans_deferred",
     "ban entries of the cluster stream over the ban rate ceiling: kept and applied later"},
}};

}  // namespace

struct GuardCounters::Block {
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t count;
    std::atomic<std::int64_t> since;
    std::atomic<std::uint64_t> values[kCounterCount];
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

const CounterInfo& info(Counter counter) noexcept {
    return kInfo[static_cast<std::size_t>(counter)];
}

std::size_t GuardCounters::region_size() noexcept {
    return (sizeof(Block) + 63) / 64 * 64;
}

GuardCounters GuardCounters::attach(void* base, std::size_t bytes) {
    if (bytes < region_size()) {
        throw std::invalid_argument("counter region too small");
    }
    auto* block = static_cast<Block*>(base);
    // Counters are only ever appended: a region kept across a graceful restart into a
    // module with more of them keeps its numbers, and the new ones start at zero.
    if (block->magic == kMagic && block->layout_version == kLayoutVersion && block->count > 0 &&
        block->count < kCounterCount) {
        for (std::size_t i = block->count; i < kCounterCount; ++i) {
            block->values[i].store(0, std::memory_order_relaxed);
        }
        block->count = kCounterCount;
    }
    if (block->magic != kMagic || block->layout_version != kLayoutVersion ||
        block->count != kCounterCount) {
        block = new (base) Block{};
        block->layout_version = kLayoutVersion;
        block->count = kCounterCount;
        block->since.store(static_cast<std::int64_t>(std::time(nullptr)));
        block->magic = kMagic;
    }
    return GuardCounters(block);
}

void GuardCounters::add(Counter counter, std::uint64_t n) noexcept {
    block_->values[static_cast<std::size_t>(counter)].fetch_add(n, std::memory_order_relaxed);
}

void GuardCounters::set(Counter counter, std::uint64_t value) noexcept {
    block_->values[static_cast<std::size_t>(counter)].store(value, std::memory_order_relaxed);
}

CounterValues GuardCounters::read() const noexcept {
    CounterValues out{};
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        out[i] = block_->values[i].load(std::memory_order_relaxed);
    }
    return out;
}

std::int64_t GuardCounters::since() const noexcept {
    return block_->since.load(std::memory_order_relaxed);
}

void GuardCounters::restore(const CounterValues& values, std::int64_t since) noexcept {
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        block_->values[i].store(values[i], std::memory_order_relaxed);
    }
    block_->since.store(since, std::memory_order_relaxed);
}

}  // namespace xmlrpcguard
