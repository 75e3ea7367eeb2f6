// mod_xmlrpcguard: the module record and its hooks. Each hook reads as one sentence;
// the work is in config.cpp, table_shm.cpp, filters.cpp, exchange.cpp and the core.
// No C++ exception crosses into httpd: every entry point catches and logs.
#include <httpd.h>  // first: the other httpd headers need its types

#include <http_core.h>
#include <http_protocol.h>
#include <http_request.h>

#include <atomic>
#include <cstring>
#include <exception>

#include "config.hpp"
#include "exchange.hpp"
#include "filters.hpp"
#include "glue.hpp"
#include "helper_process.hpp"
#include "log.hpp"
#include "prefix_config.hpp"
#include "prefix_guard.hpp"
#include "status_handler.hpp"
#include "table_shm.hpp"
#include "user_config.hpp"
#include "user_guard.hpp"
#include "user_shm.hpp"

namespace xmlrpcguard::httpd {
namespace {

// After the configuration is read, also under `apachectl configtest`: what no single
// directive can check alone.
int check_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
    return check_control_group(s) && check_cluster(s) && check_prefix_config(s)
               ? OK
               : HTTP_INTERNAL_SERVER_ERROR;
}

// The parent, after every (re)read of the configuration: defaults filled in, and
// the shared table attached (kept across graceful restarts).
int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;  // the first, config-checking pass: nothing to attach yet
    }
    try {
        resolve_defaults(s);
    } catch (...) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    int status = attach_shared_table(s, static_cast<std::size_t>(config_of(s).table_size));
    if (status == OK) {
        status = attach_user_table(s, static_cast<std::size_t>(config_of(s).users->table_size));
    }
    return status == OK ? start_ban_helper(pconf, s) : status;
}

// Every httpd child, once: it keeps only the sending end of the helper's channel.
void child_init(apr_pool_t*, server_rec*) noexcept {
    close_helper_end_in_child();
}

// Whether a module before us (mod_remoteip) replaced the client address with one a
// proxy named. httpd points useragent_ip at the connection's client_ip until someone
// rewrites it, so a pointer comparison decides the common case; the string comparison
// only runs for a rewritten one that may name the peer itself.
bool forwarded_client(const request_rec* r) noexcept {
    const char* peer = r->connection->client_ip;
    return r->useragent_ip != peer && peer && std::strcmp(r->useragent_ip, peer) != 0;
}

// A guarded POST whose own peer is loopback or ignored and that no module said came
// from someone else: the guard can count nobody. That is what a proxy in front without
// mod_remoteip looks like, so it is counted for the status page and said once per child.
void note_unattributed_post(request_rec* r, const ServerConfig& config) {
    if (r->method_number != M_POST || r->useragent_ip != r->connection->client_ip ||
        !guarded_endpoint(r, config)) {
        return;
    }
    count(Counter::PostsFromIgnoredPeers);
    static std::atomic<bool> said{false};
    if (!said.load(std::memory_order_relaxed) && !said.exchange(true, std::memory_order_relaxed)) {
        log_probably_behind_proxy(r);
    }
}

// Every request of a guarded server: a banned client gets 403, a POST to a guarded
// script gets the two filters, everything else costs this one lookup. The client is
// useragent_ip, which mod_remoteip (before us) makes the real client behind a trusted
// proxy: it is counted and denied in httpd like any other, but see conclude() for why
// its ban never reaches the kernel.
int guard_request(request_rec* r) {
    const ServerConfig& config = config_of(r->server);
    if (config.mode != GuardMode::On && config.mode != GuardMode::DetectOnly) {
        return DECLINED;
    }
    auto client = Address::parse(r->useragent_ip ? r->useragent_ip : "");
    if (!client) {
        return DECLINED;
    }
    if (config.ignores(*client)) {
        note_unattributed_post(r, config);
        return DECLINED;
    }
    Address key = client->offender_key(static_cast<unsigned>(config.ipv6_prefix));
    auto table = shared_table();
    std::int64_t now = now_seconds();
    if (config.mode == GuardMode::On && table &&
        (table->banned(key, now) || prefix_denies(r, config, key, now))) {
        count(Counter::DeniedRequests);
        log_denied(r, key);
        return HTTP_FORBIDDEN;
    }
    if (r->method_number != M_POST) {
        return DECLINED;
    }
    if (auto endpoint = guarded_endpoint(r, config)) {
        auto* exchange = pool_new<GuardedExchange>(r->pool, r, *endpoint, key, config);
        exchange->forwarded = forwarded_client(r);
        exchange->clock = now;  // the body's first filter call goes on with this reading
        exchange->clock_reading = 1;
        begin_user_exchange(r, *exchange, now);
        add_filters(r, exchange);
    }
    return DECLINED;
}

int post_read_request(request_rec* r) noexcept {
    try {
        return guard_request(r);
    } catch (const std::exception& e) {
        log_internal_error(r, "post_read_request", e.what());
    } catch (...) {
        log_internal_error(r, "post_read_request", "unknown exception");
    }
    return DECLINED;
}

void register_hooks(apr_pool_t*) {
    ap_hook_check_config(check_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
    // After mod_remoteip (APR_HOOK_FIRST), so useragent_ip is the real client.
    ap_hook_post_read_request(post_read_request, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_handler(status_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
    register_filters();
}

}  // namespace
}  // namespace xmlrpcguard::httpd

extern "C" {
__attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA xmlrpcguard_module = {
    STANDARD20_MODULE_STUFF,
    nullptr,  // per-directory config: the guard is configured per server
    nullptr,
    xmlrpcguard::httpd::create_server_config,
    xmlrpcguard::httpd::merge_server_config,
    xmlrpcguard::httpd::kDirectives,
    xmlrpcguard::httpd::register_hooks,
    AP_MODULE_FLAG_NONE,
};
}
