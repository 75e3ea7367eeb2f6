#include "log.hpp"

#include <apr_strings.h>

#include <string>

#include "glue.hpp"

namespace xmlrpcguard::httpd {
namespace {

const char* escaped(request_rec* r, const std::string& text) {
    return text.empty() ? "-" : ap_escape_logitem(r->pool, text.c_str());
}

const char* vhost_of(request_rec* r) {
    const char* name = r->server->server_hostname;
    return name ? ap_escape_logitem(r->pool, name) : "-";
}

const char* key_of(request_rec* r, const Address& key, const ServerConfig& config) {
    std::string text = key.to_string();
    if (!key.is_ipv4()) {
        text.append("/").append(std::to_string(config.ipv6_prefix));
    }
    return apr_pstrdup(r->pool, text.c_str());
}

// What the attacker called, and what the site answered, for the log line.
struct Called {
    const char* method = "-";
    const char* fault = "-";
};

Called called_of(const GuardedExchange& exchange) {
    request_rec* r = exchange.r;
    Called called;
    if (exchange.endpoint == Endpoint::Login) {
        called.method = "login";
        return called;
    }
    const RequestScan& request = exchange.request_scanner->result();
    const ResponseScan& response = exchange.response_scanner->result();
    called.method = escaped(r, request.method);
    if (!request.calls.empty() || request.calls_seen) {
        called.method = apr_psprintf(
            r->pool, "%s[%" APR_SIZE_T_FMT " calls, first %s]", called.method, request.calls_seen,
            request.calls.empty() ? "-" : escaped(r, request.calls.front()));
    }
    if (response.fault && response.fault_code) {
        called.fault = apr_itoa(r->pool, *response.fault_code);
    } else if (response.faults_403) {
        called.fault = apr_psprintf(r->pool, "403x%" APR_SIZE_T_FMT "", response.faults_403);
    }
    return called;
}

}  // namespace

void log_offences(const GuardedExchange& exchange, const Verdict& verdict) {
    request_rec* r = exchange.r;
    if (!APLOG_R_IS_LEVEL(r, APLOG_INFO)) {
        return;
    }
    Called called = called_of(exchange);
    for (auto kind :
         {OffenceKind::AuthFailure, OffenceKind::PingbackError, OffenceKind::LoginFailure}) {
        if (!verdict.offences[kind]) {
            continue;
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      "XRG0101: offence client=%s key=%s vhost=%s kind=%s count=%u "
                      "in_window=%u/%u method=\"%s\" fault=%s mode=%s",
                      r->useragent_ip, key_of(r, exchange.key, exchange.config), vhost_of(r),
                      std::string(to_string(kind)).c_str(), verdict.offences[kind],
                      verdict.outcome.in_window, exchange.config.rule().maxretry, called.method,
                      called.fault, to_string(exchange.config.mode));
    }
}

void log_ban(const GuardedExchange& exchange, const Verdict& verdict, bool detect_only) {
    request_rec* r = exchange.r;
    Called called = called_of(exchange);
    ap_log_rerror(
        APLOG_MARK, APLOG_WARNING, 0, r,
        "%s client=%s key=%s vhost=%s reason=%s in_window=%u/%u bantime=%" APR_INT64_T_FMT
        " "
        "method=\"%s\" fault=%s",
        detect_only ? "XRG0103: detect-only: would ban" : "XRG0102: ban", r->useragent_ip,
        key_of(r, exchange.key, exchange.config), vhost_of(r),
        std::string(to_string(verdict.main_kind)).c_str(), verdict.outcome.in_window,
        exchange.config.rule().maxretry,
        static_cast<apr_int64_t>(verdict.bantime ? verdict.bantime : exchange.config.bantime),
        called.method, called.fault);
}

void log_denied(request_rec* r, const Address& key) {
    if (!APLOG_R_IS_LEVEL(r, APLOG_DEBUG)) {
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "XRG0104: denied client=%s key=%s vhost=%s: banned", r->useragent_ip,
                  key_of(r, key, config_of(r->server)), vhost_of(r));
}

void log_replaced(const GuardedExchange& exchange) {
    request_rec* r = exchange.r;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  "XRG0105: answer replaced by 403 client=%s key=%s vhost=%s: banned while the "
                  "request was in flight",
                  r->useragent_ip, key_of(r, exchange.key, exchange.config), vhost_of(r));
}

void log_cut_off(const GuardedExchange& exchange) {
    request_rec* r = exchange.r;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  "XRG0108: answer cut off, connection closed client=%s key=%s vhost=%s: an "
                  "attempt past the threshold whose answer had begun to leave",
                  r->useragent_ip, key_of(r, exchange.key, exchange.config), vhost_of(r));
}

void log_not_scannable(const GuardedExchange& exchange, const char* content_encoding) {
    request_rec* r = exchange.r;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "XRG0106: answer not scanned client=%s vhost=%s: Content-Encoding \"%s\" set by "
                  "the backend",
                  r->useragent_ip, vhost_of(r), ap_escape_logitem(r->pool, content_encoding));
}

void log_kept_out_of_kernel(const GuardedExchange& exchange, KeptOut why) {
    request_rec* r = exchange.r;
    const char* because =
        why == KeptOut::Forwarded
            ? "forwarded: the address came from a proxy's header and its packets come from "
              "the peer, so a kernel entry would stop nothing"
            : "kernel_ban_off: XmlRpcGuardKernelBan Off for this vhost";
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "XRG0110: ban kept in httpd only (403), not sent to the kernel set client=%s "
                  "key=%s vhost=%s peer=%s because=%s",
                  r->useragent_ip, key_of(r, exchange.key, exchange.config), vhost_of(r),
                  r->connection->client_ip, because);
}

void log_probably_behind_proxy(request_rec* r) {
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "XRG0111: guarded POST from peer %s, which is loopback or in "
                  "XmlRpcGuardIgnoreIP, and no module named another client: vhost=%s is "
                  "probably behind a proxy, and its clients are never counted. Load "
                  "mod_remoteip with RemoteIPHeader and RemoteIPInternalProxy (or "
                  "RemoteIPTrustedProxy) for the proxy; for a remote proxy or CDN consider "
                  "XmlRpcGuardKernelBan Off. Said once per httpd child.",
                  r->connection->client_ip, vhost_of(r));
}

void log_internal_error(request_rec* r, const char* where, const char* what) noexcept {
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  "XRG0107: internal error in %s: %s; request passed "
                  "on unguarded",
                  where, what);
}

}  // namespace xmlrpcguard::httpd
