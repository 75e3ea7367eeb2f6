// One guarded request/answer pair: what the two filters observed, and the verdict
// at the end of the answer (policy -> record -> ban).
#pragma once

#include <httpd.h>

#include <optional>

#include "config.hpp"
#include "scanner_cache.hpp"
#include "user_guard.hpp"
#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/login_marker.hpp"
#include "xmlrpcguard/offence_policy.hpp"
#include "xmlrpcguard/xmlrpc_scanner.hpp"

namespace xmlrpcguard::httpd {

enum class AnswerState : unsigned char {
    NotStarted,  // the output filter has not run yet: nothing of the answer has left
    Passing,     // streaming through, observed
    Replacing,   // our own 403 is on its way down the chain
    Replaced,    // the original answer is dropped from here on
};

struct GuardedExchange {
    GuardedExchange(request_rec* request, Endpoint endpoint, const Address& key,
                    const ServerConfig& config);

    request_rec* r;
    const ServerConfig& config;
    Endpoint endpoint;
    Address key;  // the offender key: IPv4 as is, IPv6 masked per XmlRpcGuardIPv6Prefix
    BorrowedScanners scanners;                        // XML-RPC only: the pair below
    ScannerHandle<RequestScanner> request_scanner;    // XML-RPC only
    ScannerHandle<ResponseScanner> response_scanner;  // XML-RPC only
    LoginMarkerFinder login_marker;                   // login only
    bool request_finished = false;
    bool scannable = true;  // false once the answer turns out encoded or unreadable
    bool concluded = false;
    AnswerState answer = AnswerState::NotStarted;
    bool answer_passed = false;             // some of the answer has gone down the chain
    apr_bucket_brigade* ready = nullptr;    // buckets read and observed, not yet passed on
    apr_size_t ready_bytes = 0;             // their data
    const char* accept_encoding = nullptr;  // the client's, held back from the handler
    // The client address came from a proxy's header (mod_remoteip), not from the
    // connection: its packets reach us from the proxy, so its ban stays in httpd.
    bool forwarded = false;
    UserExchange* users = nullptr;  // the user names it names (user_guard.hpp); null: not read
    std::optional<UserExchange> user_storage;  // where `users` points: one allocation, one cleanup
    // The clock, read at most once per filter call (exchange_now); the body's first call
    // keeps post_read_request's reading. 0: not read in this call yet.
    std::int64_t clock = 0;
    unsigned clock_reading = 0;  // counts the readings: a decision made on one stays valid
};

// The clock for this filter call (seconds): read at its first use, then kept until
// ClockCall ends the call. The body's first call keeps the request's reading, so a
// lock check made while the body arrives may use a reading from before the arrival
// (at most the body's transfer time old): a lock is then seen until a little after
// its end, never less, and one placed meanwhile at once (locks are kept by their end
// time). The answer filter reads afresh: what it records is timed by its own reading.
std::int64_t exchange_now(GuardedExchange& exchange) noexcept;

// One filter call's span: the clock reading lapses when it ends (`fresh`: and before
// it begins).
class ClockCall {
  public:
    ClockCall(GuardedExchange& exchange, bool fresh) noexcept : exchange_(exchange) {
        if (fresh) {
            exchange_.clock = 0;
        }
    }
    ~ClockCall() { exchange_.clock = 0; }
    ClockCall(const ClockCall&) = delete;
    ClockCall& operator=(const ClockCall&) = delete;

  private:
    GuardedExchange& exchange_;
};

// Request rec -> the script the request runs is a guarded one? Checks the first
// path segment (after normalisation and %-decoding) equal to either guarded name,
// which is the script httpd would map even with PATH_INFO after it.
std::optional<Endpoint> guarded_endpoint(request_rec* r, const ServerConfig& config);

// The answer is complete: judge, record, and ban or log. Runs once. A new ban goes
// to the kernel set only when the key is the connection's own peer and the vhost
// allows it (XmlRpcGuardKernelBan); otherwise it is denied in httpd alone. True when this
// answer carried offences of a client already banned or at its threshold before it
// (under `On`): an answer the attacker must not read, if it can still be withheld.
bool conclude(GuardedExchange& exchange);

std::int64_t now_seconds() noexcept;

}  // namespace xmlrpcguard::httpd
