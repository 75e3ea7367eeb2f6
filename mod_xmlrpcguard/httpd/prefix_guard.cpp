#include "prefix_guard.hpp"

#include <apr_strings.h>
#include <http_log.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "helper_process.hpp"
#include "prefix_config.hpp"
#include "prefix_state.hpp"
#include "table_shm.hpp"
#include "xmlrpcguard/ban_time.hpp"

namespace xmlrpcguard::httpd {
namespace {

const char* vhost_of(request_rec* r) {
    const char* name = r->server->server_hostname;
    return name ? ap_escape_logitem(r->pool, name) : "-";
}

const char* text_of(request_rec* r, const Cidr& prefix) {
    return apr_pstrdup(r->pool, prefix.to_string().c_str());
}

// The server's own addresses, read at most once per kLocalAddressesFor seconds in this
// child: a spared or DetectOnly prefix stays due while its members offend, and every
// such answer asks. An address added to an interface is protected within that time.
constexpr std::int64_t kLocalAddressesFor = 5;

std::shared_ptr<const AddressSet> local_addresses(std::int64_t now) {
    static std::mutex mutex;
    static std::shared_ptr<const AddressSet> cached;
    static std::int64_t read_at = 0;
    std::lock_guard<std::mutex> hold(mutex);
    if (!cached || now < read_at || now - read_at >= kLocalAddressesFor) {
        cached = std::make_shared<const AddressSet>(AddressSet::local_addresses());
        read_at = now;
    }
    return cached;
}

// Loopback, the server's own addresses and the vhost's XmlRpcGuardIgnoreIP, which
// holds the server's list too.
AddressSet protected_set(const ServerConfig& config, std::int64_t now) {
    AddressSet set = *local_addresses(now);
    set.add_all(AddressSet::loopback());
    const auto* blocks = reinterpret_cast<const Cidr*>(config.ignore->elts);
    for (int i = 0; i < config.ignore->nelts; ++i) {
        set.add(blocks[i]);
    }
    return set;
}

// Why a prefix ban stays in httpd, or nullptr when it goes to the kernel too.
const char* kept_in_httpd(const GuardedExchange& exchange) {
    if (exchange.forwarded) {
        return "forwarded";
    }
    if (exchange.config.kernel_ban == 0) {
        return "kernel_ban_off";
    }
    if (!exchange.config.prefix.ipset4) {
        return "prefix_ipset_none";
    }
    return nullptr;
}

}  // namespace

bool prefix_denies(request_rec* r, const ServerConfig& config, const Address& key,
                   std::int64_t now) noexcept {
    auto prefixes = shared_prefixes();
    if (!prefixes) {
        return false;
    }
    PrefixRule rule = prefix_rule(config);
    if (!prefixes->banned(key, rule, now)) {
        return false;
    }
    prefixes->count(PrefixCounter::Denied);
    if (r && APLOG_R_IS_LEVEL(r, APLOG_DEBUG)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      "XRG0355: denied client=%s prefix=%s vhost=%s: prefix banned",
                      r->useragent_ip, text_of(r, rule.prefix_of(key)), vhost_of(r));
    }
    return true;
}

bool conclude_prefix(GuardedExchange& exchange, std::uint32_t offences, bool member_reached,
                     std::int64_t now) {
    const ServerConfig& config = exchange.config;
    auto prefixes = shared_prefixes();
    if (config.prefix.enabled != 1 || !prefixes) {
        return false;
    }
    request_rec* r = exchange.r;
    PrefixRule rule = prefix_rule(config);
    PrefixNote note = prefixes->note(exchange.key, now, offences, member_reached, rule);
    if (note.refused) {
        static std::atomic<bool> said{false};
        if (!said.exchange(true, std::memory_order_relaxed)) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                          "XRG0362: prefix %s not counted: its records hold only running prefix "
                          "bans (said once per child)",
                          text_of(r, note.prefix));
        }
        return false;
    }
    if (!note.due) {
        return false;
    }
    // Spared and DetectOnly prefixes stay due while their members offend: said once, when
    // they became due. (A ban that failed is tried again at the next due note.)
    std::string block;
    if (covers_protected(note.prefix, protected_set(config, now), block)) {
        if (!note.first_due) {
            return false;
        }
        prefixes->count(PrefixCounter::Spared);
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      "XRG0353: prefix %s not banned although %u addresses offended %u times "
                      "(client=%s vhost=%s): it holds the protected %s",
                      text_of(r, note.prefix), note.members, note.offences, r->useragent_ip,
                      vhost_of(r), ap_escape_logitem(r->pool, block.c_str()));
        return false;
    }
    if (config.mode == GuardMode::DetectOnly) {
        if (!note.first_due) {
            return false;
        }
        prefixes->count(PrefixCounter::Detected);
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "XRG0352: prefix %s would be banned (DetectOnly): %u addresses, %u "
                      "offences within %us (client=%s vhost=%s)",
                      text_of(r, note.prefix), note.members, note.offences, rule.findtime,
                      r->useragent_ip, vhost_of(r));
        return false;
    }
    // The n-th ban of this prefix, by the vhost's ban time policy (no jitter).
    std::uint32_t nth = prefixes->times_banned(note.prefix) + 1;
    std::uint32_t bantime = ban_length(config.ban_policy(), nth, 0);
    const char* httpd_only = kept_in_httpd(exchange);
    if (!prefixes->ban(note.prefix, now, now + bantime,
                       httpd_only ? BanScope::HttpdOnly : BanScope::Kernel)) {
        // A concurrent answer banned it first, and reports it: this entry is folded or
        // denied with the rest, no ban of its own.
        return prefixes->banned(exchange.key, rule, now);
    }
    std::size_t folded = 0;
    if (auto table = shared_table()) {
        folded = table->fold(note.prefix);
    }
    prefixes->set_folded(note.prefix, static_cast<std::uint32_t>(folded));
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "XRG0351: prefix banned prefix=%s addresses=%u offences=%u findtime=%u "
                  "bantime=%u times_banned=%u folded=%" APR_SIZE_T_FMT " client=%s vhost=%s",
                  text_of(r, note.prefix), note.members, note.offences, rule.findtime, bantime, nth,
                  folded, r->useragent_ip, vhost_of(r));
    if (httpd_only) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      "XRG0354: prefix ban %s kept in httpd (403), not the kernel: because=%s",
                      text_of(r, note.prefix), httpd_only);
    } else {
        send_prefix_ban(note.prefix, bantime);
    }
    return true;
}

namespace {

// The helper's handle on the prefix table, for its state file (set by
// attach_prefix_bans, in the helper only).
std::optional<PrefixTable> g_helper_prefixes;

bool worth_saying(std::uint64_t& seen) {
    ++seen;
    return seen <= 10 || seen % 1000 == 0;
}

void report(server_rec* s, HelperVerdict verdict, const Cidr& prefix, std::string_view detail) {
    static std::uint64_t refused = 0, over_rate = 0, failed = 0;
    std::string text = prefix.to_string();
    int length = static_cast<int>(detail.size());
    switch (verdict) {
        case HelperVerdict::Added:
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "XRG0356: kernel prefix ban added: %s",
                         text.c_str());
            break;
        case HelperVerdict::Protected:
            if (worth_saying(refused)) {
                ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                             "XRG0357: prefix ban of %s refused: %.*s", text.c_str(), length,
                             detail.data());
            }
            break;
        case HelperVerdict::OverRate:
            if (worth_saying(over_rate)) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             "XRG0358: prefix ban rate ceiling reached: %s waits (the table "
                             "still denies it)",
                             text.c_str());
            }
            break;
        default:
            if (worth_saying(failed)) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "XRG0359: ipset add of %s failed: %.*s",
                             text.c_str(), length, detail.data());
            }
            break;
    }
}

void warn_if_unreferenced(server_rec* s, IpsetSink& sink) {
    for (const std::string* set : {&sink.ipv4_set(), &sink.ipv6_set()}) {
        std::string error;
        auto references = sink.references(*set, error);
        if (references && *references == 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "XRG0361: no firewall rule references ipset %s: prefix bans are "
                         "recorded but NOT enforced by the kernel; run `xmlrpcguard-firewall "
                         "install`",
                         set->c_str());
        }
    }
}

}  // namespace

void attach_prefix_bans(server_rec* s, const AddressSet& never_ban, const PrefixTable* table,
                        BanHelper& helper, std::optional<IpsetSink>& sink,
                        std::optional<PrefixBanHelper>& prefixes) {
    g_helper_prefixes = table ? std::optional<PrefixTable>(*table) : std::nullopt;
    const ServerConfig& config = config_of(s);
    if (!config.prefix.ipset4 || !config.prefix.ipset6) {
        return;
    }
    sink.emplace(config.prefix.ipset4, config.prefix.ipset6, IpsetSink::Kind::Networks);
    std::string error;
    if (!sink->create_sets(PrefixTable::kDefaultCapacity, error)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "XRG0360: cannot create prefix ipsets %s/%s (%s): prefix bans stay in httpd",
                     config.prefix.ipset4, config.prefix.ipset6, error.c_str());
        sink.reset();
        return;
    }
    warn_if_unreferenced(s, *sink);
    PrefixHelperSettings settings;
    settings.never_ban = never_ban;
    settings.ipv4_bits = static_cast<unsigned>(config.prefix.ipv4_bits);
    settings.ipv6_bits = static_cast<unsigned>(config.prefix.ipv6_bits);
    prefixes.emplace(*sink, settings, table);
    prefixes->on_report([s](HelperVerdict verdict, const Cidr& prefix, std::string_view detail) {
        report(s, verdict, prefix, detail);
    });
    helper.set_prefixes(&*prefixes);
}

void load_prefix_state(server_rec* s) {
    const char* path = config_of(s).state_file;
    if (!g_helper_prefixes || !path || !*path) {
        return;
    }
    PrefixStateFile file(path);
    auto loaded = file.load(*g_helper_prefixes, apr_time_sec(apr_time_now()));
    switch (loaded.outcome) {
        case StateFile::Outcome::Restored:
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "XRG0363: prefix bans restored from %s: %" APR_SIZE_T_FMT
                         " prefixes, %" APR_SIZE_T_FMT " bans still running",
                         file.path().c_str(), loaded.restored, loaded.bans);
            break;
        case StateFile::Outcome::Missing:
            break;
        default:
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "XRG0364: prefix state %s not used (%s)%s%s",
                         file.path().c_str(), loaded.why.c_str(),
                         loaded.moved_to.empty() ? "" : "; moved aside to ",
                         loaded.moved_to.c_str());
            break;
    }
}

void save_prefix_state(server_rec* s) {
    const char* path = config_of(s).state_file;
    if (!g_helper_prefixes || !path || !*path) {
        return;
    }
    static std::uint64_t failures = 0;
    PrefixStateFile file(path);
    auto saved = file.save(*g_helper_prefixes, apr_time_sec(apr_time_now()));
    if (!saved.ok && worth_saying(failures)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "XRG0365: cannot save the prefix bans to %s (%s): they will not survive a "
                     "stop of httpd",
                     file.path().c_str(), saved.error.c_str());
    }
}

}  // namespace xmlrpcguard::httpd
