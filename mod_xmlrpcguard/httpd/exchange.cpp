#include "exchange.hpp"

#include <apr_strings.h>
#include <apr_time.h>
#include <http_log.h>
#include <sys/random.h>

#include <cstring>
#include <string_view>

#include "glue.hpp"
#include "helper_process.hpp"
#include "log.hpp"
#include "prefix_guard.hpp"
#include "table_shm.hpp"
#include "user_guard.hpp"
#include "xmlrpcguard/ban_time.hpp"
#include "xmlrpcguard/offence_report.hpp"

namespace xmlrpcguard::httpd {

GuardedExchange::GuardedExchange(request_rec* request, Endpoint which, const Address& offender,
                                 const ServerConfig& server_config)
    : r(request), config(server_config), endpoint(which), key(offender) {
    if (endpoint == Endpoint::XmlRpc) {
        scanners.borrow();
        request_scanner = scanners.request();
        response_scanner = scanners.response();
    }
}

std::int64_t now_seconds() noexcept {
    return apr_time_sec(apr_time_now());
}

std::int64_t exchange_now(GuardedExchange& exchange) noexcept {
    if (exchange.clock == 0) {
        exchange.clock = now_seconds();
        ++exchange.clock_reading;
    }
    return exchange.clock;
}

std::optional<Endpoint> guarded_endpoint(request_rec* r, const ServerConfig& config) {
    if (!r->uri || r->uri[0] != '/') {
        return std::nullopt;
    }
    // Normalise as httpd will later ("/a/../xmlrpc.php", "//x", "%78mlrpc.php"), so a
    // spelling of the path cannot walk around the guard.
    char* path = apr_pstrdup(r->pool, r->uri);
    if (!ap_normalize_path(path, AP_NORMALIZE_NOT_ABOVE_ROOT | AP_NORMALIZE_DECODE_UNRESERVED |
                                     AP_NORMALIZE_MERGE_SLASHES) ||
        ap_unescape_url(path) != OK) {
        return std::nullopt;  // httpd refuses this path itself
    }
    std::string_view rest(path);
    while (!rest.empty()) {
        rest.remove_prefix(1);  // the '/'
        std::string_view segment = rest.substr(0, rest.find('/'));
        if (segment == config.xmlrpc_path) {
            return Endpoint::XmlRpc;
        }
        if (segment == config.login_path) {
            return Endpoint::Login;
        }
        rest.remove_prefix(segment.size());
    }
    return std::nullopt;
}

namespace {

BanReason reason_of(OffenceKind kind) {
    switch (kind) {
        case OffenceKind::AuthFailure:
            return BanReason::AuthFailure;
        case OffenceKind::PingbackError:
            return BanReason::PingbackError;
        case OffenceKind::LoginFailure:
            return BanReason::LoginFailure;
    }
    return BanReason::Manual;
}

OffenceKind main_kind(const Offences& offences) {
    OffenceKind best = OffenceKind::AuthFailure;
    for (auto kind : {OffenceKind::PingbackError, OffenceKind::LoginFailure}) {
        if (offences[kind] > offences[best]) {
            best = kind;
        }
    }
    return best;
}

void count_scan(ScanStatus status, Counter malformed, Counter over_limit) {
    if (status == ScanStatus::Malformed) {
        count(malformed);
    } else if (status == ScanStatus::OverLimit) {
        count(over_limit);
    }
}

// XmlRpcGuardBanTimeJitter's randomness; a ban is rare, so a system call is cheap here.
std::uint32_t jitter_random(std::uint32_t jitter) noexcept {
    std::uint32_t random = 0;
    if (jitter > 0 && getrandom(&random, sizeof random, GRND_NONBLOCK) != sizeof random) {
        random = static_cast<std::uint32_t>(apr_time_now());
    }
    return random;
}

Offences judge_exchange(GuardedExchange& exchange) {
    Exchange seen;
    seen.endpoint = exchange.endpoint;
    seen.http_status = exchange.r->status;
    if (!exchange.scannable) {
        return {};  // an encoded answer counts as not scanned, never as an offence
    }
    if (exchange.endpoint == Endpoint::Login) {
        count(Counter::LoginExchanges);
        seen.login_error_marker = exchange.login_marker.found();
        return judge(seen);
    }
    if (!exchange.request_finished) {
        exchange.request_scanner->finish();
        exchange.request_finished = true;
    }
    exchange.response_scanner->finish();
    seen.request = &exchange.request_scanner->result();
    seen.response = &exchange.response_scanner->result();
    count(Counter::XmlRpcExchanges);
    if (seen.request->method == kMulticallMethod) {
        count(Counter::MulticallRequests);
    }
    count_scan(seen.request->status, Counter::RequestsMalformed, Counter::RequestsOverLimit);
    count_scan(seen.response->status, Counter::ResponsesMalformed, Counter::ResponsesOverLimit);
    return judge(seen);
}

// XmlRpcGuardCluster: the offences also go to the fleet's window, through the helper
// (one datagram, never waited for). Only those the kernel may act on: a forwarded
// client's or a KernelBan Off vhost's bans stay in this httpd.
void report_to_cluster(const GuardedExchange& exchange, const Verdict& verdict, BanReason reason) {
    const ServerConfig& config = exchange.config;
    if (!config.cluster_url || config.mode != GuardMode::On || exchange.forwarded ||
        config.kernel_ban == 0) {
        return;
    }
    send_offences(offence_report(exchange.key, static_cast<unsigned>(config.ipv6_prefix),
                                 verdict.offences.total(), config.rule(),
                                 static_cast<std::uint32_t>(config.bantime), reason));
}

}  // namespace

bool conclude(GuardedExchange& exchange) {
    if (exchange.concluded) {
        return false;
    }
    exchange.concluded = true;
    auto table = shared_table();
    Verdict verdict;
    verdict.offences = judge_exchange(exchange);
    if (exchange.users) {
        conclude_users(exchange, verdict.offences);
    }
    if (!verdict.offences.any() || !table) {
        return false;
    }
    verdict.main_kind = main_kind(verdict.offences);
    count(Counter::AuthFailures, verdict.offences[OffenceKind::AuthFailure]);
    count(Counter::PingbackErrors, verdict.offences[OffenceKind::PingbackError]);
    count(Counter::LoginFailures, verdict.offences[OffenceKind::LoginFailure]);
    const ServerConfig& config = exchange.config;
    std::int64_t now = exchange_now(exchange);
    if (config.mode == GuardMode::On && prefix_denies(nullptr, config, exchange.key, now)) {
        return true;  // its prefix was banned meanwhile: nothing more to count
    }
    // Banned while this answer was on its way: a ban consumes the offences that led
    // to it, so the window alone would not show that this attempt came after them.
    bool banned_meanwhile = config.mode == GuardMode::On && table->banned(exchange.key, now);
    verdict.outcome = table->record(exchange.key, now, verdict.offences.total(), config.rule());
    log_offences(exchange, verdict);
    report_to_cluster(exchange, verdict, reason_of(verdict.main_kind));
    // The client's prefix (XmlRpcGuardPrefixBan): a ban of it folds this entry too.
    if (conclude_prefix(exchange, verdict.offences.total(), verdict.outcome.reached, now)) {
        return banned_meanwhile;
    }
    if (!verdict.outcome.reached) {
        return banned_meanwhile;
    }
    // Or the threshold was reached by a concurrent answer whose ban is still to come.
    bool past_threshold =
        banned_meanwhile ||
        verdict.outcome.in_window - verdict.offences.total() >= config.rule().maxretry;
    if (config.mode == GuardMode::DetectOnly) {
        // Report only the request that crossed the threshold, not every one after it.
        if (!past_threshold) {
            log_ban(exchange, verdict, true);
        }
        return false;
    }
    // The n-th ban of this key lasts longer with XmlRpcGuardBanTimeIncrement On. The
    // count is read just before the ban; of two concurrent bans only one is new, and
    // its length is the one counted from the bans before it.
    BanTimePolicy policy = config.ban_policy();
    // A ban still running (a concurrent answer's) is extended at its own length.
    std::uint32_t nth = table->times_banned(exchange.key) + (banned_meanwhile ? 0 : 1);
    std::uint32_t bantime = ban_length(policy, nth, jitter_random(policy.jitter));
    verdict.bantime = bantime;
    // A forwarded client's packets come from its proxy: a kernel entry for it would
    // stop nothing of its own and could only ever hit a direct visitor at that address,
    // while an entry for the peer would drop every client of the proxy.
    bool httpd_only = exchange.forwarded || config.kernel_ban == 0;
    if (table->ban(exchange.key, now, now + bantime, reason_of(verdict.main_kind),
                   httpd_only ? BanScope::HttpdOnly : BanScope::Kernel)) {
        count(Counter::Bans);
        log_ban(exchange, verdict, false);
        if (bantime != policy.bantime) {
            // Why this ban's length (in XRG0102) is not the configured one.
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, exchange.r,
                          "XRG0112: ban length client=%s times_banned=%u bantime=%u "
                          "(XmlRpcGuardBanTime %u, increment %s, factor %g, max %u, jitter %u)",
                          exchange.r->useragent_ip, static_cast<unsigned>(nth),
                          static_cast<unsigned>(bantime), static_cast<unsigned>(policy.bantime),
                          policy.increment ? "on" : "off", policy.factor,
                          static_cast<unsigned>(policy.max), static_cast<unsigned>(policy.jitter));
        }
        if (exchange.forwarded) {
            count(Counter::BansForwardedHttpdOnly);
            log_kept_out_of_kernel(exchange, KeptOut::Forwarded);
        } else if (config.kernel_ban == 0) {
            count(Counter::BansKernelOffHttpdOnly);
            log_kept_out_of_kernel(exchange, KeptOut::KernelBanOff);
        } else {
            send_ban(exchange.key, static_cast<unsigned>(config.ipv6_prefix), bantime);
        }
    }
    return past_threshold;
}

}  // namespace xmlrpcguard::httpd
