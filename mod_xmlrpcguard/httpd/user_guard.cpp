#include "user_guard.hpp"

#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>

#include <strings.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string_view>

#include "cluster_names.hpp"
#include "config.hpp"
#include "exchange.hpp"
#include "glue.hpp"
#include "user_config.hpp"
#include "user_shm.hpp"
#include "xmlrpcguard/trust_memo.hpp"
#include "xmlrpcguard/user_table.hpp"

namespace xmlrpcguard::httpd {
namespace {

// WordPress's own answer to a bad password (wp_xmlrpc_server::login, 6.1).
constexpr const char kFaultBody[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n  <fault>\n    <value>\n"
    "      <struct>\n        <member>\n          <name>faultCode</name>\n"
    "          <value><int>403</int></value>\n        </member>\n        <member>\n"
    "          <name>faultString</name>\n"
    "          <value><string>Incorrect username or password.</string></value>\n"
    "        </member>\n      </struct>\n    </value>\n  </fault>\n</methodResponse>\n";

// A failed login's status (200) and marker; a plain page, not WordPress's themed one.
constexpr const char kLoginBody[] =
    "<!DOCTYPE html>\n<html lang=\"en-US\"><head><meta charset=\"UTF-8\">"
    "<title>Log In</title></head>\n<body class=\"login\">\n<div id=\"login\">\n"
    "<div id=\"login_error\"><strong>Error:</strong> The username or password you entered "
    "is incorrect.</div>\n</div>\n</body></html>\n";

}  // namespace

std::uint64_t user_vhost_id(const server_rec* s) noexcept {
    std::uint64_t hash = 14695981039346656037ULL;
    std::string_view name = s->server_hostname ? s->server_hostname : "";
    for (char c : name) {
        hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    }
    hash = (hash ^ s->port) * 1099511628211ULL;
    return hash == 0 ? 1 : hash;
}

namespace {

const char* shown(request_rec* r, std::string_view name) {
    return apr_pstrdup(r->pool, loggable_name(name).c_str());
}

// 16 hex digits of the keyed hash: enough to tell locks apart, never the name.
const char* hash_text(request_rec* r, std::uint64_t hash) {
    return apr_psprintf(r->pool, "%016" APR_UINT64_T_HEX_FMT, static_cast<apr_uint64_t>(hash));
}

// The alarm's state now, logged when it changes (whoever notices first).
bool alarm_on(request_rec* r, UserTable& table, std::size_t vhost, const UserConfig& users,
              std::int64_t now) {
    AlarmState state = table.alarm(vhost, now, users.alarm());
    if (state.on != table.alarm_flag(vhost) && table.set_alarm_flag(vhost, state.on)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "XRG%s: site-wide alarm %s vhost=%s failures=%u per %us baseline=%u "
                      "(XmlRpcGuardAlarmRate %u, factor %u)",
                      state.on ? "0303" : "0304", state.on ? "on" : "off",
                      r->server->server_hostname ? r->server->server_hostname : "-", state.rate,
                      static_cast<unsigned>(users.alarm_period), state.baseline,
                      static_cast<unsigned>(users.alarm_rate),
                      static_cast<unsigned>(users.alarm_factor));
    }
    return state.on;
}

struct Check {
    bool block = false;
    const char* why = "";
    std::uint64_t key = 0;  // the name's hash
};

Check check_name(GuardedExchange& exchange, UserTable& table, const NameHasher& hash,
                 std::string_view name, std::int64_t now) {
    UserExchange& users = *exchange.users;
    const UserConfig& config = *exchange.config.users;
    std::uint64_t key = hash(name);
    bool locked = table.locked(users.vhost, key, now);
    bool alarm = !locked && alarm_on(exchange.r, table, users.vhost, config, now);
    if (!locked && !alarm) {
        return {};
    }
    if (table.trusted(users.vhost, key, exchange.key, now)) {
        return {};
    }
    return {true, locked ? "name_locked" : "alarm", key};
}

bool urlencoded(const request_rec* r);
void withhold_unread_form(request_rec* r, GuardedExchange& exchange);

// A name locked in the vhost or the alarm on: one atomic load and the alarm's few, no
// lookup; decided once per clock reading (exchange_now), which both checks of a filter
// call share.
bool protecting(request_rec* r, GuardedExchange& exchange, UserTable& table) {
    UserExchange& users = *exchange.users;
    std::int64_t now = exchange_now(exchange);
    if (users.protecting_reading != exchange.clock_reading) {
        users.protecting = table.any_lock(users.vhost, now) ||
                           alarm_on(r, table, users.vhost, *exchange.config.users, now);
        users.protecting_reading = exchange.clock_reading;
    }
    return users.protecting;
}

}  // namespace

void begin_user_exchange(request_rec* r, GuardedExchange& exchange, std::int64_t now) {
    const UserConfig* config = exchange.config.users;
    auto table = shared_user_table();
    if (!config || config->enabled != 1 || !table || !name_hasher()) {
        return;
    }
    auto slot = table->vhost_slot(user_vhost_id(r->server));
    if (!slot) {
        static bool said = false;
        if (!said) {
            said = true;
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "XRG0308: more than %u guarded virtual hosts: user names of vhost=%s "
                          "are not read",
                          static_cast<unsigned>(UserTable::kVhosts),
                          r->server->server_hostname ? r->server->server_hostname : "-");
        }
        return;
    }
    UserExchange* users = &exchange.user_storage.emplace();
    users->vhost = *slot;
    users->trusted_ip = config->trusts(exchange.key);
    if (exchange.endpoint == Endpoint::XmlRpc) {
        exchange.request_scanner->read_user_names();
    }
    exchange.users = users;
    if (exchange.endpoint == Endpoint::Login && !urlencoded(r) && !users->trusted_ip &&
        (table->any_lock(users->vhost, now) || alarm_on(r, *table, users->vhost, *config, now))) {
        withhold_unread_form(r, exchange);
    }
}

bool withhold_locked_attempt(ap_filter_t* f, GuardedExchange& exchange, apr_bucket_brigade* bb) {
    UserExchange& users = *exchange.users;
    auto table = shared_user_table();
    const NameHasher* hash = name_hasher();
    if (!table || !hash || users.withheld) {
        return false;
    }
    // The names this brigade completed.
    std::string from_form;
    std::vector<std::string>* candidates = nullptr;
    if (exchange.endpoint == Endpoint::XmlRpc) {
        candidates = &exchange.request_scanner->user_candidates();
        if (users.checked >= candidates->size()) {
            return false;
        }
    } else if (users.form.take_new_log()) {
        from_form = users.form.log();
    } else {
        return false;
    }
    if (users.trusted_ip || !protecting(f->r, exchange, *table)) {
        if (candidates) {
            users.checked = candidates->size();
        }
        return false;
    }
    auto blocked = [&](std::string_view name) -> bool {
        Check check = check_name(exchange, *table, *hash, name, exchange_now(exchange));
        if (!check.block) {
            return false;
        }
        bool act = exchange.config.mode == GuardMode::On;
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, f->r,
                      "XRG%s client=%s vhost=%s user=\"%s\" user_hash=%s because=%s",
                      act ? "0301: answered by the guard, no password checked:"
                          : "0306: detect-only: would answer, no password checked:",
                      f->r->useragent_ip,
                      f->r->server->server_hostname ? f->r->server->server_hostname : "-",
                      shown(f->r, name), hash_text(f->r, check.key), check.why);
        if (act) {
            users.withheld_name.assign(name);
        }
        return act;
    };
    bool withhold = false;
    if (candidates) {
        while (users.checked < candidates->size() && !withhold) {
            withhold = blocked((*candidates)[users.checked++]);
        }
    } else {
        withhold = blocked(from_form);
    }
    if (!withhold) {
        return false;
    }
    // The handler gets the body up to the brigade before this one: an XML-RPC
    // document whose root never closes (IXR refuses it, nothing runs) or a form
    // without this `log`. The rest of the body is never read into PHP; the
    // connection closes after the answer, so no unread byte is taken for a request.
    users.withheld = true;
    f->c->keepalive = AP_CONN_CLOSE;
    apr_brigade_cleanup(bb);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(f->c->bucket_alloc));
    return true;
}

namespace {

constexpr apr_off_t kReadAheadXmlRpc = 8 * 1024;  // an authenticating call is ~250 bytes
constexpr apr_off_t kReadAheadForm = 64 * 1024;   // a login form ~100

// Up to `readbytes` of what was read ahead, into bb.
apr_status_t serve_held(UserExchange& users, apr_bucket_brigade* bb, apr_off_t readbytes) {
    apr_bucket* after = nullptr;
    apr_status_t rv = apr_brigade_partition(users.held, readbytes, &after);
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        return rv;
    }
    while (!APR_BRIGADE_EMPTY(users.held) && APR_BRIGADE_FIRST(users.held) != after) {
        apr_bucket* b = APR_BRIGADE_FIRST(users.held);
        APR_BUCKET_REMOVE(b);
        APR_BRIGADE_INSERT_TAIL(bb, b);
    }
    return APR_SUCCESS;
}

// Reads the body's start ahead of the handler, sets it aside and feeds it; true once
// its end was seen.
bool read_ahead(ap_filter_t* f, GuardedExchange& exchange, apr_status_t& status) {
    UserExchange& users = *exchange.users;
    bool xmlrpc = exchange.endpoint == Endpoint::XmlRpc;
    apr_off_t bound = xmlrpc ? kReadAheadXmlRpc : kReadAheadForm;
    apr_off_t have = 0;
    users.held = apr_brigade_create(f->r->pool, f->c->bucket_alloc);
    apr_bucket_brigade* more = apr_brigade_create(f->r->pool, f->c->bucket_alloc);
    while (have < bound) {
        status = ap_get_brigade(f->next, more, AP_MODE_READBYTES, APR_BLOCK_READ, bound - have);
        if (status != APR_SUCCESS || APR_BRIGADE_EMPTY(more)) {
            return false;  // handed up what there is; the next read meets the error again
        }
        while (!APR_BRIGADE_EMPTY(more)) {
            apr_bucket* b = APR_BRIGADE_FIRST(more);
            if (APR_BUCKET_IS_EOS(b)) {
                APR_BUCKET_REMOVE(b);
                APR_BRIGADE_INSERT_TAIL(users.held, b);
                apr_brigade_cleanup(more);
                return true;
            }
            if (!APR_BUCKET_IS_METADATA(b)) {
                const char* data = nullptr;
                apr_size_t length = 0;
                if (apr_bucket_read(b, &data, &length, APR_BLOCK_READ) != APR_SUCCESS) {
                    throw std::runtime_error("cannot read a bucket of the body");
                }
                if (xmlrpc) {
                    exchange.request_scanner.feed(std::span<const char>(data, length));
                } else {
                    users.form.feed(std::span<const char>(data, length));
                }
                have += static_cast<apr_off_t>(length);
            }
            apr_bucket_setaside(b, f->r->pool);
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(users.held, b);
        }
    }
    return false;
}

// The form WordPress's login page sends. PHP also parses multipart/form-data, whose
// `log` this guard does not read: while protection is on, such a login POST (no
// browser sends one to wp-login.php) is answered by the guard like a locked name's.
bool urlencoded(const request_rec* r) {
    const char* type = apr_table_get(r->headers_in, "Content-Type");
    std::string_view value = type ? type : "";
    std::string_view plain = "application/x-www-form-urlencoded";
    return value.size() >= plain.size() &&
           strncasecmp(value.data(), plain.data(), plain.size()) == 0 &&
           (value.size() == plain.size() || value[plain.size()] == ';' ||
            value[plain.size()] == ' ');
}

void withhold_unread_form(request_rec* r, GuardedExchange& exchange) {
    bool act = exchange.config.mode == GuardMode::On;
    const char* type = apr_table_get(r->headers_in, "Content-Type");
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "XRG%s client=%s vhost=%s user=- because=form_not_urlencoded content_type=\"%s\"",
                  act ? "0301: answered by the guard, no password checked:"
                      : "0306: detect-only: would answer, no password checked:",
                  r->useragent_ip, r->server->server_hostname ? r->server->server_hostname : "-",
                  shown(r, type ? type : "-"));
    if (act) {
        exchange.users->withheld = true;
        r->connection->keepalive = AP_CONN_CLOSE;
        exchange.request_finished = true;
    }
}

}  // namespace

std::optional<apr_status_t> read_for_users(ap_filter_t* f, GuardedExchange& exchange,
                                           apr_bucket_brigade* bb, ap_input_mode_t mode,
                                           apr_read_type_e block, apr_off_t readbytes) {
    UserExchange& users = *exchange.users;
    bool reads = mode == AP_MODE_READBYTES || mode == AP_MODE_GETLINE || mode == AP_MODE_EXHAUSTIVE;
    if (!reads) {
        return std::nullopt;
    }
    if (users.withheld) {
        return end_withheld_body(bb, f->c->bucket_alloc);
    }
    if (users.held && !APR_BRIGADE_EMPTY(users.held)) {
        return serve_held(users, bb, mode == AP_MODE_READBYTES ? readbytes : 8192);
    }
    // Also under a non-blocking first read (mod_proxy_fcgi's prefetch): the read ahead
    // blocks for at most the bound, as the handler's next read would.
    (void)block;
    if (users.read_ahead || mode != AP_MODE_READBYTES) {
        return std::nullopt;
    }
    users.read_ahead = true;
    auto table = shared_user_table();
    if (!table || users.trusted_ip || !protecting(f->r, exchange, *table)) {
        return std::nullopt;
    }
    apr_status_t status = APR_SUCCESS;
    if (read_ahead(f, exchange, status)) {
        if (exchange.endpoint == Endpoint::XmlRpc) {
            exchange.request_scanner->finish();
        } else {
            users.form.finish();
        }
        exchange.request_finished = true;
    }
    if (APR_BRIGADE_EMPTY(users.held)) {
        return status;
    }
    if (withhold_locked_attempt(f, exchange, bb)) {
        apr_brigade_cleanup(users.held);
        return APR_SUCCESS;  // bb: EOS
    }
    return serve_held(users, bb, readbytes);
}

apr_status_t end_withheld_body(apr_bucket_brigade* bb, apr_bucket_alloc_t* alloc) {
    apr_brigade_cleanup(bb);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(alloc));
    return APR_SUCCESS;
}

bool substitute_withheld_answer(request_rec* r, GuardedExchange& exchange, apr_bucket_brigade* bb) {
    UserExchange* users = exchange.users;
    if (!users || !users->withheld || users->answered) {
        return false;
    }
    users->answered = true;
    exchange.scannable = true;  // the guard's own answer is plain
    bool xmlrpc = exchange.endpoint == Endpoint::XmlRpc;
    std::string_view body = xmlrpc ? std::string_view(kFaultBody, sizeof(kFaultBody) - 1)
                                   : std::string_view(kLoginBody, sizeof(kLoginBody) - 1);
    apr_brigade_cleanup(bb);
    r->status = HTTP_OK;
    r->status_line = nullptr;
    apr_table_clear(r->headers_out);
    apr_table_clear(r->err_headers_out);
    r->content_encoding = nullptr;
    ap_set_content_type(r, xmlrpc ? "text/xml; charset=UTF-8" : "text/html; charset=UTF-8");
    ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
    APR_BRIGADE_INSERT_TAIL(bb,
                            apr_bucket_immortal_create(body.data(), body.size(), bb->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    if (auto table = shared_user_table()) {
        table->count_answered();
    }
    return true;
}

namespace {

void record_failure(GuardedExchange& exchange, UserTable& table, const NameHasher& hash,
                    std::string_view name, std::int64_t now) {
    if (name.empty()) {
        return;
    }
    const UserConfig& config = *exchange.config.users;
    std::uint64_t key = hash(name);
    FailureOutcome out = table.record_failure(exchange.users->vhost, key, now, config.rule());
    report_name_failure(exchange, name, key);  // the fleet's window, in a cluster
    request_rec* r = exchange.r;
    if (!out.recorded) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      "XRG0309: user table bucket full of locked or trusted names, failure of "
                      "user_hash=%s not kept (XmlRpcGuardUserTableSize)",
                      hash_text(r, key));
    } else if (out.newly_locked) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "XRG0302: %s user=\"%s\" user_hash=%s vhost=%s failures=%u/%u in %us "
                      "locktime=%us last_client=%s",
                      exchange.config.mode == GuardMode::On ? "user name locked"
                                                            : "detect-only: would lock user name",
                      shown(r, name), hash_text(r, key),
                      r->server->server_hostname ? r->server->server_hostname : "-", out.in_window,
                      static_cast<unsigned>(config.maxretry),
                      static_cast<unsigned>(config.findtime),
                      static_cast<unsigned>(config.locktime), r->useragent_ip);
    }
}

// One per process: the trusts its threads renewed (xmlrpcguard/trust_memo.hpp).
constinit TrustMemo g_trust_memo;

void record_trust(GuardedExchange& exchange, UserTable& table, const NameHasher& hash,
                  std::string_view name, std::int64_t now) {
    if (name.empty()) {
        return;
    }
    const UserConfig& config = *exchange.config.users;
    std::uint64_t key = hash(name);
    // An owner's client that logs in on every call (most XML-RPC apps do) renews its trust
    // at most once per refresh step, not with a locked write per request.
    TrustRenewal renewal =
        g_trust_memo.renew(table, exchange.users->vhost, key, exchange.key, now, config.trust_time);
    if (renewal.written && renewal.was_until == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, exchange.r,
                      "XRG0305: trusted client=%s for user=\"%s\" user_hash=%s for %us "
                      "(successful login)",
                      exchange.r->useragent_ip, shown(exchange.r, name), hash_text(exchange.r, key),
                      static_cast<unsigned>(config.trust_time));
    }
}

int find_login_cookie(void* flag, const char*, const char* value) {
    if (std::string_view(value).find("wordpress_logged_in_") != std::string_view::npos) {
        *static_cast<bool*>(flag) = true;
        return 0;
    }
    return 1;
}

// WordPress's login cookie: set only when a password was right. CGI-style handlers
// (mod_proxy_fcgi, mod_cgi) keep a script's cookies in err_headers_out.
bool logged_in(request_rec* r) {
    if (r->status != HTTP_MOVED_TEMPORARILY && r->status != HTTP_SEE_OTHER) {
        return false;
    }
    bool found = false;
    apr_table_do(find_login_cookie, &found, r->headers_out, "Set-Cookie", nullptr);
    apr_table_do(find_login_cookie, &found, r->err_headers_out, "Set-Cookie", nullptr);
    return found;
}

void conclude(GuardedExchange& exchange, const Offences& offences) {
    auto table = shared_user_table();
    const NameHasher* hash = name_hasher();
    UserExchange* users = exchange.users;
    if (!table || !hash || !users) {
        return;
    }
    const UserConfig& config = *exchange.config.users;
    std::int64_t now = exchange_now(exchange);
    // The rate counts failed requests: each checked at most one password (WordPress
    // 4.4 and later stop a multicall's checks at its first failure).
    if (offences[OffenceKind::AuthFailure] + offences[OffenceKind::LoginFailure] > 0) {
        table->count_failure(users->vhost, now, config.alarm());
        alarm_on(exchange.r, *table, users->vhost, config, now);
    }
    if (users->withheld) {
        // The attempt counts for its name too: a lock lasts while the attack goes on.
        record_failure(exchange, *table, *hash, users->withheld_name, now);
        return;
    }
    if (exchange.endpoint == Endpoint::Login) {
        users->form.finish();
        if (!users->form.has_log()) {
            return;
        }
        if (offences[OffenceKind::LoginFailure] > 0) {
            record_failure(exchange, *table, *hash, users->form.log(), now);
        } else if (logged_in(exchange.r)) {
            record_trust(exchange, *table, *hash, users->form.log(), now);
        }
        return;
    }
    if (!exchange.request_finished || !exchange.scannable) {
        return;
    }
    const RequestScan& request = exchange.request_scanner->result();
    const ResponseScan& response = exchange.response_scanner->result();
    if (request.status != ScanStatus::Complete) {
        return;
    }
    if (request.method == kMulticallMethod) {
        std::size_t n = std::min(response.results.size(), request.call_users.size());
        for (std::size_t i = 0; i < n; ++i) {
            if (response.results[i].fault && response.results[i].fault_code == 403) {
                record_failure(exchange, *table, *hash, request.call_users[i], now);
            }
        }
        return;
    }
    if (response.fault) {
        if (response.fault_code && *response.fault_code == 403) {
            record_failure(exchange, *table, *hash, request.user, now);
        }
    } else if (response.status == ScanStatus::Complete && exchange.r->status == HTTP_OK) {
        record_trust(exchange, *table, *hash, request.user, now);
    }
}

}  // namespace

void conclude_users(GuardedExchange& exchange, const Offences& offences) noexcept {
    try {
        conclude(exchange, offences);
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, exchange.r, "XRG0310: user names: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, exchange.r, "XRG0310: user names: unknown error");
    }
}

}  // namespace xmlrpcguard::httpd
