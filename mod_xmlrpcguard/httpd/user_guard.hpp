// Who is being guessed, in the request path: the user names a guarded request
// names, checked against the vhost's locked names and alarm while the body streams;
// a locked name's attempt from an untrusted address never reaches a password check
// (the body is ended before it, the answer replaced by WordPress's own failure);
// failures and successes recorded per name at the end. See docs/ARCHITECTURE.md.
#pragma once

#include <httpd.h>

#include <apr_buckets.h>
#include <util_filter.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "xmlrpcguard/offence_policy.hpp"
#include "xmlrpcguard/user_names.hpp"

namespace xmlrpcguard::httpd {

struct GuardedExchange;

struct UserExchange {
    std::size_t vhost = 0;    // the vhost's slot in the user table
    bool trusted_ip = false;  // XmlRpcGuardTrustIP
    FormLogReader form;       // wp-login.php only
    std::size_t checked = 0;  // user name candidates checked so far
    bool withheld = false;    // the body was ended before a locked name's attempt
    std::string withheld_name;
    bool answered = false;               // the answer was replaced by the guard's own
    bool read_ahead = false;             // the first read of the body has been decided
    apr_bucket_brigade* held = nullptr;  // read ahead, fed and checked, not yet handed up
    bool protecting = false;             // a name locked or the alarm on, as of
    unsigned protecting_reading = 0;     // this clock reading (GuardedExchange::clock_reading)
};

// At post_read_request for a guarded POST, with the request's clock reading: sets
// exchange.users, left null when the vhost does not read names.
void begin_user_exchange(request_rec* r, GuardedExchange& exchange, std::int64_t now);

// The request body tee, before it reads: while a name is locked or the alarm is on,
// the first read takes the body's start (up to 8 KiB, 64 KiB of a form) or all of it
// ahead of the handler, feeds and checks it, and hands it up from then on in the sizes
// the handler asks for; a withheld body ends. Nullopt: read and observe as usual.
std::optional<apr_status_t> read_for_users(ap_filter_t* f, GuardedExchange& exchange,
                                           apr_bucket_brigade* bb, ap_input_mode_t mode,
                                           apr_read_type_e block, apr_off_t readbytes);

// The request body tee, after a brigade was fed to the scanner: false to go on;
// true when the brigade was replaced by EOS (a locked name's attempt).
bool withhold_locked_attempt(ap_filter_t* f, GuardedExchange& exchange, apr_bucket_brigade* bb);
// After withholding, every later read of the body gets EOS.
apr_status_t end_withheld_body(apr_bucket_brigade* bb, apr_bucket_alloc_t* alloc);

// The answer filter's first call: a withheld attempt's answer becomes WordPress's own
// failure (the 403 fault; the failed-login page) before it is observed.
bool substitute_withheld_answer(request_rec* r, GuardedExchange& exchange, apr_bucket_brigade* bb);

// At the end of the answer: failures per name, trust from successes, the alarm.
void conclude_users(GuardedExchange& exchange, const Offences& offences) noexcept;

}  // namespace xmlrpcguard::httpd
