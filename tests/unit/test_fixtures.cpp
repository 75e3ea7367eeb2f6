// Real WordPress traffic (tests/fixtures, captured by tools/capture-fixtures) through
// the scanners and the policy: each fixture's verdict, and the same verdict whatever
// the chunking, since httpd hands the filters a body in pieces of any size.
#define BOOST_TEST_MODULE fixtures
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "xmlrpcguard/login_marker.hpp"
#include "xmlrpcguard/offence_policy.hpp"
#include "xmlrpcguard/xmlrpc_scanner.hpp"

using namespace xmlrpcguard;

namespace xmlrpcguard {
std::ostream& operator<<(std::ostream& out, ScanStatus status) {
    return out << to_string(status);
}
}  // namespace xmlrpcguard

namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::string(XRG_FIXTURE_DIR) + "/" + name, std::ios::binary);
    BOOST_TEST_REQUIRE(in.good(), "missing fixture " << name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int status_of(const std::string& name) {
    return std::stoi(fixture(name + ".status"));
}

// Every offset of a small body; for a big one (the 500-guess multicall, 100+ KB, where
// every offset would take minutes under ASan), every offset of its first and last
// 512 bytes and every 127th in between: 127 is prime to the ~276-byte repeat of
// a call, so the cuts still land at every kind of place inside one. Feeding one byte
// at a time covers every boundary of every body at once as well (see fed_byte_by_byte).
std::vector<std::size_t> split_points(std::size_t size) {
    std::vector<std::size_t> points;
    for (std::size_t at = 0; at <= size; ++at) {
        bool edge = at < 512 || size - at < 512;
        if (size < 16 * 1024 || edge || at % 127 == 0) {
            points.push_back(at);
        }
    }
    return points;
}

template <class Scanner>
auto scan_in_two(const std::string& body, std::size_t split, bool single_call = false) {
    Scanner scanner;
    if constexpr (std::is_same_v<Scanner, ResponseScanner>) {
        if (single_call) {
            scanner.expect_single_call();
        }
    }
    scanner.feed({body.data(), split});
    scanner.feed({body.data() + split, body.size() - split});
    scanner.finish();
    return scanner.result();
}

template <class Scanner>
auto scan_byte_by_byte(const std::string& body) {
    Scanner scanner;
    for (char c : body) {
        scanner.feed({&c, 1});
    }
    scanner.finish();
    return scanner.result();
}

Offences judge_xmlrpc(const std::string& name, const RequestScan& request,
                      const ResponseScan& response) {
    return judge({Endpoint::XmlRpc, &request, &response, status_of(name), false});
}

struct Expected {
    const char* name;
    const char* method;
    std::uint32_t auth_failures;
    std::uint32_t pingback_errors;
};

const Expected kXmlRpc[] = {
    {"getusersblogs-badpass", "wp.getUsersBlogs", 1, 0},
    {"getusersblogs-goodpass", "wp.getUsersBlogs", 0, 0},
    {"pingback-forged", "pingback.ping", 0, 1},
    {"pingback-ok", "pingback.ping", 0, 0},
    {"pingback-duplicate", "pingback.ping", 0, 0},
    {"multicall-500", "system.multicall", 500, 0},
    {"sayhello", "demo.sayHello", 0, 0},
};

}  // namespace

BOOST_AUTO_TEST_CASE(each_xmlrpc_fixture_gets_its_verdict) {
    for (const Expected& e : kXmlRpc) {
        std::string name = e.name;
        auto request = scan_in_two<RequestScanner>(fixture(name + ".request.xml"), 0);
        auto response = scan_in_two<ResponseScanner>(fixture(name + ".response.xml"), 0);
        BOOST_TEST(request.status == ScanStatus::Complete, name);
        BOOST_TEST(response.status == ScanStatus::Complete, name);
        BOOST_TEST(request.method == e.method, name);
        Offences offences = judge_xmlrpc(name, request, response);
        BOOST_TEST(offences[OffenceKind::AuthFailure] == e.auth_failures, name);
        BOOST_TEST(offences[OffenceKind::PingbackError] == e.pingback_errors, name);
        BOOST_TEST(offences[OffenceKind::LoginFailure] == 0u, name);
    }
}

BOOST_AUTO_TEST_CASE(the_multicall_fixture_is_read_call_by_call) {
    auto request = scan_in_two<RequestScanner>(fixture("multicall-500.request.xml"), 0);
    auto response = scan_in_two<ResponseScanner>(fixture("multicall-500.response.xml"), 0);
    BOOST_TEST(request.calls.size() == 500u);
    BOOST_TEST(request.calls_seen == 500u);
    BOOST_TEST(std::count(request.calls.begin(), request.calls.end(), "wp.getUsersBlogs") == 500);
    BOOST_TEST(response.results.size() == 500u);
    BOOST_TEST(response.faults_403 == 500u);
    BOOST_TEST(!response.fault);
}

BOOST_AUTO_TEST_CASE(the_same_verdict_at_every_split) {
    for (const Expected& e : kXmlRpc) {
        std::string name = e.name;
        std::string request_body = fixture(name + ".request.xml");
        std::string response_body = fixture(name + ".response.xml");
        auto request_whole = scan_in_two<RequestScanner>(request_body, request_body.size());
        auto response_whole = scan_in_two<ResponseScanner>(response_body, response_body.size());
        Offences whole = judge_xmlrpc(name, request_whole, response_whole);
        for (std::size_t split : split_points(request_body.size())) {
            auto request = scan_in_two<RequestScanner>(request_body, split);
            BOOST_TEST_REQUIRE(
                (request.method == request_whole.method && request.calls == request_whole.calls &&
                 request.status == request_whole.status),
                name << " request split at " << split);
        }
        for (std::size_t split : split_points(response_body.size())) {
            auto response = scan_in_two<ResponseScanner>(response_body, split);
            Offences offences = judge_xmlrpc(name, request_whole, response);
            BOOST_TEST_REQUIRE(
                (offences.count == whole.count && response.status == response_whole.status),
                name << " response split at " << split);
        }
    }
}

// What the module does for an answer to a single call: the shape decides, and a
// success stops the scan early. Same verdict as reading it all, at every split.
BOOST_AUTO_TEST_CASE(single_call_answers_stop_early_with_the_same_verdict) {
    for (const Expected& e : kXmlRpc) {
        std::string name = e.name;
        if (name == "multicall-500") {
            continue;
        }
        auto request = scan_in_two<RequestScanner>(fixture(name + ".request.xml"), 0);
        std::string body = fixture(name + ".response.xml");
        auto full = scan_in_two<ResponseScanner>(body, body.size());
        Offences whole = judge_xmlrpc(name, request, full);
        for (std::size_t split : split_points(body.size())) {
            auto quick = scan_in_two<ResponseScanner>(body, split, true);
            BOOST_TEST_REQUIRE((judge_xmlrpc(name, request, quick).count == whole.count &&
                                quick.status == ScanStatus::Complete && quick.fault == full.fault &&
                                quick.fault_code == full.fault_code),
                               name << " split at " << split);
        }
    }
    // It really stops: what follows a success's <params> is never parsed.
    std::string success = fixture("sayhello.response.xml");
    std::string spoiled = success.substr(0, success.find("<params>") + 8) + "<<<not xml at all";
    BOOST_TEST(scan_in_two<ResponseScanner>(spoiled, 0, true).status == ScanStatus::Complete);
    BOOST_TEST(scan_in_two<ResponseScanner>(spoiled, 0, false).status == ScanStatus::Malformed);
    // ... and a fault is still read to its code.
    auto fault =
        scan_in_two<ResponseScanner>(fixture("getusersblogs-badpass.response.xml"), 0, true);
    BOOST_TEST(fault.fault);
    BOOST_TEST((fault.fault_code == std::optional<std::int32_t>(403)));
}

BOOST_AUTO_TEST_CASE(fed_byte_by_byte) {
    for (const Expected& e : kXmlRpc) {
        std::string name = e.name;
        auto request = scan_byte_by_byte<RequestScanner>(fixture(name + ".request.xml"));
        auto response = scan_byte_by_byte<ResponseScanner>(fixture(name + ".response.xml"));
        BOOST_TEST(request.method == e.method, name);
        Offences offences = judge_xmlrpc(name, request, response);
        BOOST_TEST(offences[OffenceKind::AuthFailure] == e.auth_failures, name);
        BOOST_TEST(offences[OffenceKind::PingbackError] == e.pingback_errors, name);
    }
}

BOOST_AUTO_TEST_CASE(login_fixtures_at_every_split) {
    struct Login {
        const char* name;
        bool failed;
    };
    for (Login login : {Login{"login-failure", true}, Login{"login-success", false}}) {
        std::string name = login.name;
        std::string body = fixture(name + ".response.html");
        for (std::size_t split = 0; split <= body.size(); ++split) {
            LoginMarkerFinder finder;
            finder.feed({body.data(), split});
            finder.feed({body.data() + split, body.size() - split});
            Exchange exchange{Endpoint::Login, nullptr, nullptr, status_of(name), finder.found()};
            BOOST_TEST_REQUIRE(
                judge(exchange)[OffenceKind::LoginFailure] == (login.failed ? 1u : 0u),
                name << " split at " << split);
        }
    }
}
