#include "filters.hpp"

#include <apr_buckets.h>
#include <apr_strings.h>
#include <httpd.h>  // first: the other httpd headers need its types

#include <http_protocol.h>
#include <util_filter.h>

#include <exception>
#include <optional>
#include <span>
#include <stdexcept>

#include "glue.hpp"
#include "log.hpp"
#include "prefix_guard.hpp"
#include "table_shm.hpp"
#include "user_guard.hpp"

namespace xmlrpcguard::httpd {
namespace {

ap_filter_rec_t* g_tee_filter = nullptr;
ap_filter_rec_t* g_answer_filter = nullptr;

constexpr const char kForbiddenBody[] =
    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>403 "
    "Forbidden</title>\n"
    "</head><body>\n<h1>Forbidden</h1>\n<p>You don't have permission to access this resource.</p>\n"
    "</body></html>\n";

// Reads every data bucket of a request body (without changing it) and hands the
// bytes to `sink`, in the handler's own read mode; true once the brigade held EOS.
// Nullopt: a bucket had nothing yet in a non-blocking read, so the body will not be
// seen whole (the answer then decides, see RequestScan::known_single_call).
template <class Sink>
std::optional<bool> observe_request(apr_bucket_brigade* bb, apr_read_type_e block, Sink&& sink) {
    for (apr_bucket* b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            return true;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            continue;  // FLUSH, error buckets, ...: nothing to read
        }
        const char* data = nullptr;
        apr_size_t length = 0;
        apr_status_t rv = apr_bucket_read(b, &data, &length, block);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            return std::nullopt;
        }
        if (rv != APR_SUCCESS) {
            throw std::runtime_error("cannot read a bucket");
        }
        sink(std::span<const char>(data, length));
    }
    return false;
}

bool consumes_data(ap_input_mode_t mode) {
    return mode == AP_MODE_READBYTES || mode == AP_MODE_GETLINE || mode == AP_MODE_EXHAUSTIVE;
}

// Request body -> request scanner; the brigade goes up to the handler unchanged.
apr_status_t tee_request_body(ap_filter_t* f, apr_bucket_brigade* bb, ap_input_mode_t mode,
                              apr_read_type_e block, apr_off_t readbytes) noexcept {
    auto* exchange = static_cast<GuardedExchange*>(f->ctx);
    ClockCall call(*exchange, false);  // the body's first call: the request's reading
    if (exchange->users) {
        try {
            if (auto rv = read_for_users(f, *exchange, bb, mode, block, readbytes)) {
                return *rv;  // read ahead and checked, or ended (user_guard.hpp)
            }
        } catch (const std::exception& e) {
            log_internal_error(f->r, "the request body tee", e.what());
            return APR_EGENERAL;  // a bucket that cannot be read: the body is lost anyway
        } catch (...) {
            log_internal_error(f->r, "the request body tee", "unknown exception");
            return APR_EGENERAL;
        }
    }
    apr_status_t rv = ap_get_brigade(f->next, bb, mode, block, readbytes);
    if (rv != APR_SUCCESS || !consumes_data(mode) || exchange->request_finished) {
        return rv;
    }
    try {
        bool xmlrpc = exchange->endpoint == Endpoint::XmlRpc;
        auto eos = observe_request(bb, block, [&](std::span<const char> bytes) {
            if (xmlrpc) {
                exchange->request_scanner.feed(bytes);
            } else {
                exchange->users->form.feed(bytes);
            }
        });
        if (!eos || *eos) {  // the end, or a part that cannot be seen: no more to scan
            if (xmlrpc) {
                exchange->request_scanner->finish();
            } else {
                exchange->users->form.finish();
            }
            exchange->request_finished = true;
        }
        if (exchange->users && withhold_locked_attempt(f, *exchange, bb)) {
            exchange->request_finished = true;  // the body ends here for the handler
        }
    } catch (const std::exception& e) {
        exchange->scannable = false;
        exchange->request_finished = true;
        log_internal_error(f->r, "the request body tee", e.what());
    } catch (...) {
        exchange->scannable = false;
        exchange->request_finished = true;
        log_internal_error(f->r, "the request body tee", "unknown exception");
    }
    return rv;
}

// Headers have not left yet (this is the filter's first call), so the answer can
// still become a plain 403: status and headers reset, the original body dropped.
apr_status_t replace_with_forbidden(ap_filter_t* f, GuardedExchange& exchange,
                                    apr_bucket_brigade* bb) {
    request_rec* r = f->r;
    apr_brigade_cleanup(bb);
    r->status = HTTP_FORBIDDEN;
    r->status_line = nullptr;
    apr_table_clear(r->headers_out);
    apr_table_clear(r->err_headers_out);
    r->content_encoding = nullptr;
    ap_set_content_type(r, "text/html; charset=iso-8859-1");
    ap_set_content_length(r, sizeof(kForbiddenBody) - 1);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(
                                    kForbiddenBody, sizeof(kForbiddenBody) - 1, bb->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    count(Counter::WithheldAnswers);
    log_replaced(exchange);
    exchange.answer = AnswerState::Replacing;
    apr_status_t rv = ap_pass_brigade(f->next, bb);
    exchange.answer = AnswerState::Replaced;
    return rv;
}

// The answer has begun to go down the chain (mod_proxy_fcgi passes the headers and
// the body before the end of the body), so it can no longer become a 403. A small
// answer is still held by the core output filter, which writes at the end of the
// request: aborting the connection drops it unsent. A larger one has partly left
// and stops short of its end. Either way the attacker does not read the result.
apr_status_t cut_off(ap_filter_t* f, GuardedExchange& exchange, apr_bucket_brigade* bb) {
    apr_brigade_cleanup(bb);
    f->c->keepalive = AP_CONN_CLOSE;
    f->c->aborted = 1;
    exchange.answer = AnswerState::Replaced;
    count(Counter::WithheldAnswers);
    log_cut_off(exchange);
    return APR_SUCCESS;  // the handler has nothing to do about it: no error to log
}

// The client itself or its prefix (XmlRpcGuardPrefixBan), as post_read_request checks.
bool banned_now(GuardedExchange& exchange) {
    auto table = shared_table();
    if (exchange.config.mode != GuardMode::On || !table) {
        return false;
    }
    std::int64_t now = exchange_now(exchange);
    return table->banned(exchange.key, now) ||
           prefix_denies(nullptr, exchange.config, exchange.key, now);
}

void check_encoding(GuardedExchange& exchange) {
    request_rec* r = exchange.r;
    const char* encoding = apr_table_get(r->headers_out, "Content-Encoding");
    if (!encoding) {
        encoding = apr_table_get(r->err_headers_out, "Content-Encoding");
    }
    if (encoding && strcasecmp(encoding, "identity") != 0) {
        exchange.scannable = false;
        count(Counter::UnscannedEncoded);
        log_not_scannable(exchange, encoding);
    }
}

// A request known to be one call: its answer's shape alone decides, and a success
// need not be parsed past its first element.
void expect_answer_shape(GuardedExchange& exchange) {
    if (exchange.endpoint == Endpoint::XmlRpc && exchange.request_finished &&
        exchange.request_scanner->result().known_single_call()) {
        exchange.response_scanner->expect_single_call();
    }
}

// The handler has run with Accept-Encoding held back (see hold_back_accept_encoding);
// the filters after this one (mod_deflate) may encode the answer for the client.
void give_back_accept_encoding(GuardedExchange& exchange) {
    if (exchange.accept_encoding) {
        apr_table_setn(exchange.r->headers_in, "Accept-Encoding", exchange.accept_encoding);
    }
}

// The observed part of the answer goes on down the chain.
apr_status_t pass_ready(ap_filter_t* f, GuardedExchange& exchange) {
    if (APR_BRIGADE_EMPTY(exchange.ready)) {
        return APR_SUCCESS;
    }
    exchange.answer_passed = true;
    exchange.ready_bytes = 0;
    apr_status_t rv = ap_pass_brigade(f->next, exchange.ready);
    apr_brigade_cleanup(exchange.ready);
    return rv;
}

void feed_answer(GuardedExchange& exchange, std::span<const char> bytes) {
    if (exchange.endpoint == Endpoint::Login) {
        exchange.login_marker.feed(bytes);
    } else {
        exchange.response_scanner.feed(bytes);
    }
}

// Each bucket is read as it comes, without blocking first (mod_deflate's idiom): a
// pipe, socket or file bucket (mod_cgi(d), mod_fcgid, a file-backed answer) that has
// nothing yet makes what was read so far go on with a FLUSH before the read blocks,
// and every brigade goes on at once. So an answer of any length, even an endless one,
// streams through in bounded memory, as it is produced.
// Over HTTP/2 an answer shorter than kHoldAtMost is held whole until its end, across
// the handler's brigades and flushes, so that the verdict comes before any byte of it
// leaves and an attempt past the threshold is answered 403 instead. Over HTTP/1.1 the
// core output filter holds such an answer until the end of the request anyway (which
// is what the cut-off relies on); an HTTP/2 stream sends each DATA frame at once, and
// a client banned while its answer was under way read its result.
constexpr apr_size_t kHoldAtMost = 64 * 1024;

// The usual HTTP/1.1 brigade (the whole answer of a small handler, or a part of one
// whose buckets are in memory): observed where it lies and passed on as it came, without
// a brigade of our own. Stops at the first bucket a non-blocking read cannot have, or
// past kHoldAtMost (a file bucket read grows the brigade); what it observed goes to
// `exchange.ready` and stream_observed() goes on from that bucket. Nullopt: go on.
std::optional<apr_status_t> pass_observed_in_place(ap_filter_t* f, GuardedExchange& exchange,
                                                   apr_bucket_brigade* bb) {
    apr_size_t observed = 0;
    for (apr_bucket* b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            if (conclude(exchange)) {
                return exchange.answer_passed ? cut_off(f, exchange, bb)
                                              : replace_with_forbidden(f, exchange, bb);
            }
            break;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            continue;
        }
        const char* data = nullptr;
        apr_size_t length = 0;
        apr_status_t rv = observed >= kHoldAtMost
                              ? APR_EAGAIN
                              : apr_bucket_read(b, &data, &length, APR_NONBLOCK_READ);
        if (APR_STATUS_IS_EAGAIN(rv)) {
            // From here on bucket by bucket; the observed ones go first.
            if (!exchange.ready) {
                exchange.ready = apr_brigade_create(f->r->pool, f->c->bucket_alloc);
            }
            while (APR_BRIGADE_FIRST(bb) != b) {
                apr_bucket* seen = APR_BRIGADE_FIRST(bb);
                APR_BUCKET_REMOVE(seen);
                APR_BRIGADE_INSERT_TAIL(exchange.ready, seen);
            }
            exchange.ready_bytes = observed;
            return std::nullopt;
        }
        if (rv != APR_SUCCESS) {
            throw std::runtime_error("cannot read a bucket of the answer");
        }
        feed_answer(exchange, std::span<const char>(data, length));
        observed += length;
    }
    if (APR_BRIGADE_EMPTY(bb)) {
        return APR_SUCCESS;
    }
    exchange.answer_passed = true;
    return ap_pass_brigade(f->next, bb);
}

apr_status_t stream_observed(ap_filter_t* f, GuardedExchange& exchange, apr_bucket_brigade* bb) {
    bool http2_stream = f->c->master != nullptr;
    if (!http2_stream && (!exchange.ready || APR_BRIGADE_EMPTY(exchange.ready))) {
        if (auto rv = pass_observed_in_place(f, exchange, bb)) {
            return *rv;
        }
    }
    if (!exchange.ready) {
        exchange.ready = apr_brigade_create(f->r->pool, f->c->bucket_alloc);
    }
    while (!APR_BRIGADE_EMPTY(bb)) {
        apr_bucket* b = APR_BRIGADE_FIRST(bb);
        if (APR_BUCKET_IS_EOS(b)) {
            // An attempt past the threshold (concurrent requests that raced the ban)
            // is withheld: the attacker reads at most maxretry results.
            if (conclude(exchange)) {
                apr_brigade_cleanup(exchange.ready);
                return exchange.answer_passed ? cut_off(f, exchange, bb)
                                              : replace_with_forbidden(f, exchange, bb);
            }
            APR_BRIGADE_CONCAT(exchange.ready, bb);
            return pass_ready(f, exchange);
        }
        if (!APR_BUCKET_IS_METADATA(b)) {
            const char* data = nullptr;
            apr_size_t length = 0;
            apr_status_t rv = apr_bucket_read(b, &data, &length, APR_NONBLOCK_READ);
            if (APR_STATUS_IS_EAGAIN(rv)) {
                APR_BRIGADE_INSERT_TAIL(exchange.ready,
                                        apr_bucket_flush_create(f->c->bucket_alloc));
                if ((rv = pass_ready(f, exchange)) != APR_SUCCESS) {
                    return rv;
                }
                rv = apr_bucket_read(b, &data, &length, APR_BLOCK_READ);
            }
            if (rv != APR_SUCCESS) {
                throw std::runtime_error("cannot read a bucket of the answer");
            }
            feed_answer(exchange, std::span<const char>(data, length));
            exchange.ready_bytes += length;
        }
        if (f->c->master) {
            // Held across the handler's calls: a transient bucket's bytes (mod_proxy_fcgi's
            // read buffer) are only valid until this call returns.
            apr_bucket_setaside(b, f->r->pool);
        }
        APR_BUCKET_REMOVE(b);
        APR_BRIGADE_INSERT_TAIL(exchange.ready, b);
        if (exchange.ready_bytes >= kHoldAtMost) {
            if (apr_status_t rv = pass_ready(f, exchange); rv != APR_SUCCESS) {
                return rv;
            }
        }
    }
    return http2_stream ? APR_SUCCESS : pass_ready(f, exchange);
}

apr_status_t observe_answer(ap_filter_t* f, apr_bucket_brigade* bb) {
    auto& exchange = *static_cast<GuardedExchange*>(f->ctx);
    switch (exchange.answer) {
        case AnswerState::Replacing:
            return ap_pass_brigade(f->next, bb);
        case AnswerState::Replaced:
            apr_brigade_cleanup(bb);
            return APR_SUCCESS;
        case AnswerState::NotStarted:
            // The last moment before any byte of this answer leaves: a client banned
            // while this request was in flight does not get to read the answer.
            if (banned_now(exchange)) {
                return replace_with_forbidden(f, exchange, bb);
            }
            exchange.answer = AnswerState::Passing;
            give_back_accept_encoding(exchange);
            check_encoding(exchange);
            expect_answer_shape(exchange);
            if (substitute_withheld_answer(f->r, exchange, bb)) {
                // The guard's own failure, observed and judged like WordPress's; the
                // handler's answer to the cut body is dropped.
                apr_status_t rv = stream_observed(f, exchange, bb);
                exchange.answer = AnswerState::Replaced;
                return rv;
            }
            break;
        case AnswerState::Passing:
            break;
    }
    if (exchange.scannable && !exchange.concluded) {
        return stream_observed(f, exchange, bb);
    }
    if (!exchange.concluded && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb))) {
        conclude(exchange);
    }
    exchange.answer_passed = true;
    return ap_pass_brigade(f->next, bb);
}

// Answer -> response scanner (or login marker), passed on at once; verdict at EOS.
apr_status_t guard_answer(ap_filter_t* f, apr_bucket_brigade* bb) noexcept {
    ClockCall call(*static_cast<GuardedExchange*>(f->ctx), true);
    try {
        return observe_answer(f, bb);
    } catch (const std::exception& e) {
        log_internal_error(f->r, "the answer filter", e.what());
    } catch (...) {
        log_internal_error(f->r, "the answer filter", "unknown exception");
    }
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

}  // namespace

void register_filters() {
    // RESOURCE: above HTTP_IN's de-chunking and any inflating filter, so the tee
    // sees the body exactly as the handler reads it.
    g_tee_filter =
        ap_register_input_filter("XMLRPCGUARD_TEE", tee_request_body, nullptr, AP_FTYPE_RESOURCE);
    // Just ahead of CONTENT_SET filters such as DEFLATE, which would encode the answer.
    g_answer_filter =
        ap_register_output_filter("XMLRPCGUARD_ANSWER", guard_answer, nullptr,
                                  static_cast<ap_filter_type>(AP_FTYPE_CONTENT_SET - 1));
}

// A backend asked for a compressed answer (PHP's zlib.output_compression, a plugin's
// ob_gzhandler, a proxied server's gzip) would hand the guard bytes it cannot read, at
// the client's request: the handler never sees the client's Accept-Encoding. The
// client still gets compression from mod_deflate, which runs after the guard.
void hold_back_accept_encoding(request_rec* r, GuardedExchange* exchange) {
    exchange->accept_encoding = apr_table_get(r->headers_in, "Accept-Encoding");
    if (exchange->accept_encoding) {
        apr_table_unset(r->headers_in, "Accept-Encoding");
    }
}

void add_filters(request_rec* r, GuardedExchange* exchange) {
    hold_back_accept_encoding(r, exchange);
    if (exchange->endpoint == Endpoint::XmlRpc || exchange->users) {
        ap_add_input_filter_handle(g_tee_filter, exchange, r, r->connection);
    }
    ap_add_output_filter_handle(g_answer_filter, exchange, r, r->connection);
}

}  // namespace xmlrpcguard::httpd
