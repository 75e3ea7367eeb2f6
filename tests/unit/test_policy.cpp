#define BOOST_TEST_MODULE policy
#include <boost/test/unit_test.hpp>

#include "xmlrpcguard/offence_policy.hpp"

using namespace xmlrpcguard;

namespace {

RequestScan call(std::string method) {
    RequestScan scan;
    scan.status = ScanStatus::Complete;
    scan.method = std::move(method);
    return scan;
}

ResponseScan fault(std::int32_t code) {
    ResponseScan scan;
    scan.status = ScanStatus::Complete;
    scan.fault = true;
    scan.fault_code = code;
    return scan;
}

ResponseScan success() {
    ResponseScan scan;
    scan.status = ScanStatus::Complete;
    return scan;
}

Offences xmlrpc(const RequestScan& request, const ResponseScan& response) {
    return judge({Endpoint::XmlRpc, &request, &response, 200, false});
}

}  // namespace

BOOST_AUTO_TEST_CASE(bad_credentials_to_any_method_are_an_auth_failure) {
    for (const char* method : {"wp.getUsersBlogs", "wp.getPosts", "metaWeblog.newPost", "x"}) {
        auto offences = xmlrpc(call(method), fault(403));
        BOOST_TEST(offences[OffenceKind::AuthFailure] == 1u, method);
        BOOST_TEST(offences.total() == 1u);
    }
}

BOOST_AUTO_TEST_CASE(successes_and_other_faults_are_not_offences) {
    BOOST_TEST(!xmlrpc(call("wp.getUsersBlogs"), success()).any());
    BOOST_TEST(!xmlrpc(call("demo.sayHello"), success()).any());
    BOOST_TEST(!xmlrpc(call("wp.getPosts"), fault(401)).any());  // logged in, not allowed
    BOOST_TEST(!xmlrpc(call("no.such.method"), fault(-32601)).any());
    BOOST_TEST(!xmlrpc(call("wp.getUsersBlogs"), fault(405)).any());  // XML-RPC disabled
}

BOOST_AUTO_TEST_CASE(pingback_errors_count_except_the_duplicate) {
    BOOST_TEST(xmlrpc(call("pingback.ping"), fault(0))[OffenceKind::PingbackError] == 1u);
    BOOST_TEST(xmlrpc(call("pingback.ping"), fault(17))[OffenceKind::PingbackError] == 1u);
    BOOST_TEST(!xmlrpc(call("pingback.ping"), fault(48)).any());
    BOOST_TEST(!xmlrpc(call("pingback.ping"), success()).any());
    BOOST_TEST(!xmlrpc(call("pingback.extensions.getPingbacks"), fault(0)).any());
}

BOOST_AUTO_TEST_CASE(a_fault_without_a_code_is_not_judged) {
    ResponseScan response;
    response.status = ScanStatus::Malformed;
    response.fault = true;
    BOOST_TEST(!xmlrpc(call("pingback.ping"), response).any());
}

BOOST_AUTO_TEST_CASE(multicall_counts_every_403_and_pairs_pingbacks_by_position) {
    RequestScan request = call("system.multicall");
    request.calls = {"wp.getUsersBlogs", "pingback.ping", "pingback.ping", "demo.sayHello",
                     "pingback.ping"};
    request.calls_seen = request.calls.size();
    ResponseScan response = success();
    response.results = {{true, 403}, {true, 0}, {true, 48}, {false, 0}, {false, 0}};
    response.results_seen = response.results.size();
    response.faults_403 = 1;
    auto offences = xmlrpc(request, response);
    BOOST_TEST(offences[OffenceKind::AuthFailure] == 1u);
    BOOST_TEST(offences[OffenceKind::PingbackError] == 1u);
    BOOST_TEST(offences[OffenceKind::LoginFailure] == 0u);
}

BOOST_AUTO_TEST_CASE(multicall_403s_past_the_per_call_cap_still_count) {
    RequestScan request = call("system.multicall");
    request.calls.assign(10, "wp.getUsersBlogs");
    request.calls_seen = 100000;
    ResponseScan response = success();
    response.results.assign(10, CallOutcome{true, 403});
    response.results_seen = 100000;
    response.faults_403 = 100000;
    BOOST_TEST(xmlrpc(request, response)[OffenceKind::AuthFailure] == 100000u);
}

BOOST_AUTO_TEST_CASE(a_multicall_refused_whole_is_judged_as_one_call) {
    BOOST_TEST(xmlrpc(call("system.multicall"), fault(403))[OffenceKind::AuthFailure] == 1u);
    BOOST_TEST(!xmlrpc(call("system.multicall"), fault(-32700)).any());
}

BOOST_AUTO_TEST_CASE(login_failure_is_200_with_the_marker) {
    BOOST_TEST(judge({Endpoint::Login, nullptr, nullptr, 200, true})[OffenceKind::LoginFailure] ==
               1u);
    BOOST_TEST(!judge({Endpoint::Login, nullptr, nullptr, 302, false}).any());
    BOOST_TEST(!judge({Endpoint::Login, nullptr, nullptr, 200, false}).any());
    BOOST_TEST(!judge({Endpoint::Login, nullptr, nullptr, 302, true}).any());
}

BOOST_AUTO_TEST_CASE(an_answer_to_a_request_not_known_as_one_call_counts_every_403) {
    // A body the scanner refused, or cut at a cap, may have run a multicall for all the
    // guard knows: a multicall-shaped answer is counted as one.
    ResponseScan response = success();
    response.results.assign(3, CallOutcome{true, 403});
    response.results_seen = 500;
    response.faults_403 = 500;
    for (auto status : {ScanStatus::Malformed, ScanStatus::OverLimit, ScanStatus::Incomplete}) {
        RequestScan request = call("wp.getUsersBlogs");
        request.status = status;
        BOOST_TEST(xmlrpc(request, response)[OffenceKind::AuthFailure] == 500u, to_string(status));
    }
    BOOST_TEST(!xmlrpc(call("wp.getUsersBlogs"), response).any());  // known: one call's success
}
