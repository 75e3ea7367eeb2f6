#include "xmlrpcguard/offence_policy.hpp"

#include <algorithm>

namespace xmlrpcguard {

std::string_view to_string(OffenceKind kind) noexcept {
    switch (kind) {
        case OffenceKind::AuthFailure:
            return "auth_failure";
        case OffenceKind::PingbackError:
            return "pingback_error";
        case OffenceKind::LoginFailure:
            return "login_failure";
    }
    return "unknown";
}

namespace {

// Forged pingbacks always fail validation, and WordPress rewrites every pingback
// error to code 0 except 48 (already registered), which a legitimate site sends
// when it retries; 48 is never punished.
bool is_pingback_error(std::int32_t fault_code) {
    return fault_code != kFaultDuplicatePingback;
}

std::uint32_t saturate(std::size_t n) {
    return static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX));
}

Offences judge_single_call(const RequestScan& request, const ResponseScan& response) {
    Offences offences;
    if (!response.fault || !response.fault_code) {
        return offences;
    }
    if (*response.fault_code == kFaultBadCredentials) {
        offences[OffenceKind::AuthFailure] = 1;
    } else if (request.method == kPingbackMethod && is_pingback_error(*response.fault_code)) {
        offences[OffenceKind::PingbackError] = 1;
    }
    return offences;
}

// A multicall answer is an array with one element per call, in order; a failed
// call's element is a fault struct. Every 403 counts, including those past the
// scanner's per-call cap; pingbacks are paired with their call by position.
Offences judge_multicall(const RequestScan& request, const ResponseScan& response) {
    Offences offences;
    offences[OffenceKind::AuthFailure] = saturate(response.faults_403);
    std::size_t paired = std::min(request.calls.size(), response.results.size());
    for (std::size_t i = 0; i < paired; ++i) {
        const CallOutcome& outcome = response.results[i];
        if (outcome.fault && outcome.fault_code != kFaultBadCredentials &&
            request.calls[i] == kPingbackMethod && is_pingback_error(outcome.fault_code)) {
            ++offences[OffenceKind::PingbackError];
        }
    }
    return offences;
}

}  // namespace

Offences judge(const Exchange& exchange) noexcept {
    if (exchange.endpoint == Endpoint::Login) {
        // A failed login is answered 200 with the error box; a success redirects (302).
        Offences offences;
        if (exchange.http_status == 200 && exchange.login_error_marker) {
            offences[OffenceKind::LoginFailure] = 1;
        }
        return offences;
    }
    if (!exchange.request || !exchange.response) {
        return {};
    }
    const RequestScan& request = *exchange.request;
    const ResponseScan& response = *exchange.response;
    // The answer decides when the request is not known to be one call: a body read
    // otherwise than WordPress reads it, or cut at a cap, may have run a multicall,
    // and then every 403 of its answer counts (pingbacks only where a call is named).
    if (!request.known_single_call() && !response.fault) {
        return judge_multicall(request, response);
    }
    return judge_single_call(request, response);
}

}  // namespace xmlrpcguard
