// `SetHandler xmlrpcguard-status`: the operator's page, like mod_status's
// server-status. HTML by default, `?json` for scripts, `?metrics` for Prometheus.
// Read-only: it changes nothing, so GET (and HEAD) only. Who may see it is the
// operator's <Location> and Require, as for server-status.
#include "status_handler.hpp"

#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>

#include <cstring>
#include <exception>
#include <string>

#include "config.hpp"
#include "exchange.hpp"
#include "log.hpp"
#include "prefix_config.hpp"
#include "table_shm.hpp"
#include "user_config.hpp"
#include "user_shm.hpp"
#include "xmlrpcguard/status_report.hpp"
#include "xmlrpcguard/user_status.hpp"

namespace xmlrpcguard::httpd {
namespace {

constexpr const char* kHandlerName = "xmlrpcguard-status";

// The vhost's user names section, when it reads them: a member of the JSON object, a
// section of the page before </body>, more metrics.
void append_user_status(request_rec* r, std::string_view query, std::string& body) {
    const UserConfig* users = config_of(r->server).users;
    auto table = shared_user_table();
    if (!users || users->enabled != 1 || !table) {
        return;
    }
    auto slot = table->vhost_slot(user_vhost_id(r->server));
    if (!slot) {
        return;
    }
    UserStatus status =
        gather_user_status(*table, *slot, now_seconds(), users->rule(), users->alarm());
    if (query == "json") {
        std::size_t end = body.rfind('}');
        if (end != std::string::npos) {
            body.insert(end, ",\"user_names\":" + user_status_json(status));
        }
    } else if (query == "metrics") {
        body += user_status_metrics(status);
    } else {
        std::size_t end = body.rfind("</body>");
        body.insert(end == std::string::npos ? body.size() : end, user_status_html(status));
    }
}

int serve_status(request_rec* r) {
    if (!r->handler || std::strcmp(r->handler, kHandlerName) != 0) {
        return DECLINED;
    }
    r->allowed = AP_METHOD_BIT << M_GET;
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    auto table = shared_table();
    if (!table) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    const ServerConfig& config = config_of(r->server);
    auto report = gather_status(*table, shared_counters(), now_seconds(), config.rule(),
                                static_cast<unsigned>(config.ipv6_prefix), {}, config.ban_policy());
    if (auto prefixes = shared_prefixes()) {
        report.prefixes = gather_prefixes(*prefixes, report.now, prefix_rule(config));
    }
    std::string body;
    std::string_view query = r->args ? r->args : "";
    if (query == "json") {
        ap_set_content_type(r, "application/json");
        body = status_json(report);
    } else if (query == "metrics") {
        ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
        body = status_metrics(report);
    } else {
        ap_set_content_type(r, "text/html; charset=utf-8");
        body = status_html(report);
    }
    append_user_status(r, query, body);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
    if (!r->header_only) {
        ap_rwrite(body.data(), static_cast<int>(body.size()), r);
    }
    return OK;
}

}  // namespace

int status_handler(request_rec* r) noexcept {
    try {
        return serve_status(r);
    } catch (const std::exception& e) {
        log_internal_error(r, "status_handler", e.what());
    } catch (...) {
        log_internal_error(r, "status_handler", "unknown exception");
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace xmlrpcguard::httpd
