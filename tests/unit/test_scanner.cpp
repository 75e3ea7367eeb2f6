#define BOOST_TEST_MODULE scanner
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "../../mod_xmlrpcguard/core/success_opening.hpp"
#include "xmlrpcguard/xmlrpc_scanner.hpp"

using namespace xmlrpcguard;

namespace xmlrpcguard {
std::ostream& operator<<(std::ostream& out, ScanStatus status) {
    return out << to_string(status);
}
}  // namespace xmlrpcguard

namespace {

// Feeds `body` in pieces of `piece` bytes (0 = whole), then finishes.
template <class Scanner>
auto scan(std::string_view body, std::size_t piece = 0, ScanLimits limits = {}) {
    Scanner scanner(limits);
    if (piece == 0) {
        piece = body.size() + 1;
    }
    for (std::size_t at = 0; at < body.size(); at += piece) {
        std::string_view part = body.substr(at, piece);
        scanner.feed({part.data(), part.size()});
    }
    scanner.finish();
    return scanner.result();
}

RequestScan request(std::string_view body, std::size_t piece = 0, ScanLimits limits = {}) {
    return scan<RequestScanner>(body, piece, limits);
}
ResponseScan response(std::string_view body, std::size_t piece = 0, ScanLimits limits = {}) {
    return scan<ResponseScanner>(body, piece, limits);
}

std::string string_value(std::string_view text) {
    return "<value><string>" + std::string(text) + "</string></value>";
}

std::string method_call(std::string_view method, std::string_view params) {
    return "<?xml version=\"1.0\"?>\n<methodCall><methodName>" + std::string(method) +
           "</methodName><params>" + std::string(params) + "</params></methodCall>";
}

std::string call_struct(std::string_view method) {
    return "<value><struct><member><name>methodName</name>" + string_value(method) +
           "</member><member><name>params</name><value><array><data>" + string_value("admin") +
           string_value("secret") + "</data></array></value></member></struct></value>";
}

std::string multicall(const std::vector<std::string>& methods) {
    std::string calls;
    for (const auto& method : methods) {
        calls += call_struct(method);
    }
    return method_call("system.multicall",
                       "<param><value><array><data>" + calls + "</data></array></value></param>");
}

std::string fault_struct(int code, std::string_view code_type = "int") {
    return "<value><struct><member><name>faultCode</name><value><" + std::string(code_type) + ">" +
           std::to_string(code) + "</" + std::string(code_type) +
           "></value></member><member><name>faultString</name>" +
           string_value("Incorrect username or password.") + "</member></struct></value>";
}

std::string fault_answer(int code, std::string_view code_type = "int") {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n  <fault>\n    " +
           fault_struct(code, code_type) + "\n  </fault>\n</methodResponse>\n";
}

std::string multicall_answer(const std::vector<int>& codes) {  // 0 = success
    std::string elements;
    for (int code : codes) {
        elements += code == 0
                        ? "<value><array><data>" + string_value("ok") + "</data></array></value>"
                        : fault_struct(code);
    }
    return "<?xml version=\"1.0\"?><methodResponse><params><param><value><array><data>" + elements +
           "</data></array></value></param></params></methodResponse>";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(request_scanner)

BOOST_AUTO_TEST_CASE(reads_the_method_name_trimmed_like_wordpress) {
    auto scan = request(method_call("\n  wp.getUsersBlogs \t", string_value("admin")));
    BOOST_TEST(scan.status == ScanStatus::Complete);
    BOOST_TEST(scan.method == "wp.getUsersBlogs");
    BOOST_TEST(scan.calls.empty());
}

BOOST_AUTO_TEST_CASE(reads_every_multicall_call_in_order) {
    auto scan = request(multicall({"wp.getUsersBlogs", "pingback.ping", "demo.sayHello"}));
    BOOST_TEST(scan.status == ScanStatus::Complete);
    BOOST_TEST(scan.method == "system.multicall");
    BOOST_TEST(scan.calls ==
                   (std::vector<std::string>{"wp.getUsersBlogs", "pingback.ping", "demo.sayHello"}),
               boost::test_tools::per_element());
    BOOST_TEST(scan.calls_seen == 3u);
}

BOOST_AUTO_TEST_CASE(multicall_members_in_any_order_and_untyped_strings) {
    std::string call =
        "<value><struct><member><name>params</name><value><array><data><value>x</value></data>"
        "</array></value></member><member><name> methodName </name><value>pingback.ping</value>"
        "</member></struct></value>";
    auto scan = request(method_call("system.multicall", "<param><value><array><data>" + call +
                                                            "</data></array></value></param>"));
    BOOST_TEST(scan.calls == std::vector<std::string>{"pingback.ping"},
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_call_that_is_not_a_struct_has_no_method) {
    auto scan = request(method_call("system.multicall", "<param><value><array><data>" +
                                                            string_value("pingback.ping") +
                                                            call_struct("wp.getUsersBlogs") +
                                                            "</data></array></value></param>"));
    BOOST_TEST(scan.calls == (std::vector<std::string>{"", "wp.getUsersBlogs"}),
               boost::test_tools::per_element());
}

// IXR hands system.multicall every parameter when there are several: each is a call.
BOOST_AUTO_TEST_CASE(several_multicall_parameters_are_each_a_call) {
    auto scan = request(method_call("system.multicall",
                                    "<param>" + call_struct("pingback.ping") + "</param><param>" +
                                        call_struct("wp.getUsersBlogs") + "</param>"));
    BOOST_TEST(scan.calls == (std::vector<std::string>{"pingback.ping", "wp.getUsersBlogs"}),
               boost::test_tools::per_element());
}

// What WordPress runs is the last <methodName> anywhere; reading the first would let
// a forged pingback pass as demo.sayHello.
BOOST_AUTO_TEST_CASE(the_last_method_name_element_wins_as_in_wordpress) {
    auto body = method_call("demo.sayHello",
                            "<param><value><methodName>pingback.ping</methodName></value></param>");
    BOOST_TEST(request(body).method == "pingback.ping");
}

BOOST_AUTO_TEST_CASE(a_base64_method_name_is_decoded_as_in_wordpress) {
    std::string call =
        "<value><struct><member><name>methodName</name><value><base64>cGluZ2JhY2sucGluZw==</base64>"
        "</value></member></struct></value>";
    auto scan = request(method_call("system.multicall", "<param><value><array><data>" + call +
                                                            "</data></array></value></param>"));
    BOOST_TEST(scan.calls == std::vector<std::string>{"pingback.ping"},
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_string_is_trimmed_as_wordpress_trims_it_an_untyped_value_is_not) {
    auto scan = request(multicall({"  pingback.ping\n"}));
    BOOST_REQUIRE(scan.calls.size() == 1u);
    BOOST_TEST(scan.calls[0] == "pingback.ping");
    std::string untyped =
        "<value><struct><member><name>methodName</name><value> pingback.ping</value>"
        "</member></struct></value>";
    auto kept = request(method_call("system.multicall", "<param><value><array><data>" + untyped +
                                                            "</data></array></value></param>"));
    BOOST_REQUIRE(kept.calls.size() == 1u);
    BOOST_TEST(kept.calls[0] != "pingback.ping");
}

BOOST_AUTO_TEST_CASE(spellings_wordpress_runs_are_read_as_it_runs_them) {
    // Each was found or checked against WordPress's own parser (tests/parity).
    auto wrapped = request(
        "<fault><methodCall><methodName>pingback.ping</methodName></methodCall>"
        "</fault>");
    BOOST_TEST(wrapped.status == ScanStatus::Complete);
    BOOST_TEST(wrapped.method == "pingback.ping");
    auto inner_declaration = request(std::string("\r\n") + '\0' +
                                     "<methodCall><?xml version=\"1.0\"?><methodName>pingback.ping"
                                     "</methodName></methodCall>" +
                                     '\0' + "\x0B");
    BOOST_TEST(inner_declaration.status == ScanStatus::Complete);
    BOOST_TEST(inner_declaration.method == "pingback.ping");
    auto struct_list = request(method_call(
        "system.multicall",
        "<param><value><struct>"
        "<member><name>a</name><value><struct><member><name>methodName</name>"
        "<value>pingback.ping</value></member></struct></value></member>"
        "<member><name>b</name><value><struct><member><name>methodName</name>"
        "<value>wp.getUsersBlogs</value></member></struct></value></member>"
        "<member><name>a</name><value><struct><member><name>methodName</name>"
        "<value><base64>cGlu=Z2JhY2s ucGluZw</base64></value></member></struct></value></member>"
        "</struct></value></param>"));
    BOOST_TEST(struct_list.calls == (std::vector<std::string>{"pingback.ping", "wp.getUsersBlogs"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(spellings_wordpress_refuses_are_not_known_calls) {
    for (const std::string& body : std::vector<std::string>{
             "<methodResponse><methodName>wp.getUsersBlogs</methodName></methodResponse>",
             std::string("<methodCall><methodName>x</methodName>") + '\0' + "</methodCall>",
             "<!DOCTYPE m [<!ENTITY e \"x\">]><methodCall><methodName>x</methodName></methodCall>",
             "<methodCallx><methodName>x</methodName></methodCallx>",
         }) {
        auto scan = request(body);
        BOOST_TEST(scan.status == ScanStatus::Malformed, body);
        BOOST_TEST(!scan.known_single_call(), body);
    }
    BOOST_TEST(request(method_call("wp.getUsersBlogs", "")).known_single_call());
    BOOST_TEST(!request(multicall({"wp.getUsersBlogs"})).known_single_call());
}

BOOST_AUTO_TEST_CASE(prefixed_elements_are_not_xmlrpc_elements) {
    auto body = method_call("demo.sayHello",
                            "<param><value><x:methodName xmlns:x=\"urn:x\">pingback.ping"
                            "</x:methodName></value></param>");
    BOOST_TEST(request(body).method == "demo.sayHello");
}

BOOST_AUTO_TEST_CASE(entities_and_cdata_are_text) {
    auto body = method_call("wp.get&#85;sersBlogs",
                            "<param><value><string><![CDATA[a<b]]></string>"
                            "</value></param>");
    auto scan = request(body);
    BOOST_TEST(scan.status == ScanStatus::Complete);
    BOOST_TEST(scan.method == "wp.getUsersBlogs");
}

BOOST_AUTO_TEST_CASE(a_long_method_name_is_truncated) {
    auto scan = request(method_call(std::string(10000, 'm'), ""));
    BOOST_TEST(scan.status == ScanStatus::Complete);
    BOOST_TEST(scan.method == std::string(RequestScan::kMaxMethodName, 'm'));
}

BOOST_AUTO_TEST_CASE(calls_past_the_cap_are_counted_not_kept) {
    std::vector<std::string> methods(50, "wp.getUsersBlogs");
    ScanLimits limits;
    limits.max_calls = 10;
    auto scan = request(multicall(methods), 0, limits);
    BOOST_TEST(scan.status == ScanStatus::Complete);
    BOOST_TEST(scan.calls.size() == 10u);
    BOOST_TEST(scan.calls_seen == 50u);
}

BOOST_AUTO_TEST_CASE(the_same_verdict_at_every_split) {
    auto body = multicall({"wp.getUsersBlogs", "pingback.ping"});
    auto whole = request(body);
    for (std::size_t split = 0; split <= body.size(); ++split) {
        RequestScanner scanner;
        scanner.feed({body.data(), split});
        scanner.feed({body.data() + split, body.size() - split});
        scanner.finish();
        BOOST_TEST_REQUIRE(scanner.result().method == whole.method, "split " << split);
        BOOST_TEST_REQUIRE(scanner.result().calls == whole.calls, "split " << split);
        BOOST_TEST_REQUIRE(scanner.result().status == ScanStatus::Complete);
    }
    BOOST_TEST(request(body, 1).calls == whole.calls, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(reset_makes_a_scanner_new) {
    RequestScanner scanner;
    std::string first = multicall({"pingback.ping"});
    std::string second = method_call("wp.getUsersBlogs", "");
    scanner.feed({first.data(), first.size()});
    scanner.finish();
    BOOST_TEST(scanner.result().calls.size() == 1u);
    scanner.reset();
    BOOST_TEST(scanner.result().status == ScanStatus::Incomplete);
    scanner.feed({second.data(), second.size()});
    scanner.finish();
    BOOST_TEST(scanner.result().status == ScanStatus::Complete);
    BOOST_TEST(scanner.result().method == "wp.getUsersBlogs");
    BOOST_TEST(scanner.result().calls.empty());
}

BOOST_AUTO_TEST_CASE(bytes_after_finish_change_nothing) {
    RequestScanner scanner;
    std::string body = method_call("wp.getUsersBlogs", "");
    scanner.feed({body.data(), body.size()});
    scanner.finish();
    scanner.feed({"<junk", 5});
    scanner.finish();
    BOOST_TEST(scanner.result().status == ScanStatus::Complete);
    BOOST_TEST(scanner.result().method == "wp.getUsersBlogs");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(response_scanner)

BOOST_AUTO_TEST_CASE(reads_a_fault_code_in_int_or_i4) {
    for (const char* type : {"int", "i4"}) {
        auto scan = response(fault_answer(403, type));
        BOOST_TEST(scan.status == ScanStatus::Complete);
        BOOST_TEST(scan.fault);
        BOOST_TEST_REQUIRE(scan.fault_code.has_value());
        BOOST_TEST(*scan.fault_code == 403);
    }
    BOOST_TEST(*response(fault_answer(48)).fault_code == 48);
    BOOST_TEST(*response(fault_answer(0)).fault_code == 0);
    BOOST_TEST(*response(fault_answer(-32601)).fault_code == -32601);
}

BOOST_AUTO_TEST_CASE(the_fault_code_member_may_come_last) {
    auto body =
        "<methodResponse><fault><value><struct><member><name>faultString</name><value><string>no"
        "</string></value></member><member><name>faultCode</name><value><int> 48 </int></value>"
        "</member></struct></value></fault></methodResponse>";
    auto scan = response(body);
    BOOST_TEST(scan.fault);
    BOOST_TEST(scan.fault_code.value_or(-1) == 48);
}

BOOST_AUTO_TEST_CASE(a_success_is_no_fault) {
    auto scan = response(
        "<methodResponse><params><param><value><string>Hello!</string></value></param></params>"
        "</methodResponse>");
    BOOST_TEST(scan.status == ScanStatus::Complete);
    BOOST_TEST(!scan.fault);
    BOOST_TEST(!scan.fault_code.has_value());
    BOOST_TEST(scan.results.empty());
}

BOOST_AUTO_TEST_CASE(a_fault_without_a_code_has_none) {
    auto scan = response(
        "<methodResponse><fault><value><struct><member><name>faultString</name><value>x</value>"
        "</member></struct></value></fault></methodResponse>");
    BOOST_TEST(scan.fault);
    BOOST_TEST(!scan.fault_code.has_value());
}

BOOST_AUTO_TEST_CASE(reads_each_multicall_outcome) {
    auto scan = response(multicall_answer({403, 0, 403, 48, 0}));
    BOOST_TEST(scan.status == ScanStatus::Complete);
    BOOST_TEST(!scan.fault);
    BOOST_REQUIRE(scan.results.size() == 5u);
    BOOST_TEST(scan.results_seen == 5u);
    BOOST_TEST(scan.faults_403 == 2u);
    BOOST_TEST((scan.results[0].fault && scan.results[0].fault_code == 403));
    BOOST_TEST(!scan.results[1].fault);
    BOOST_TEST((scan.results[3].fault && scan.results[3].fault_code == 48));
    BOOST_TEST(!scan.results[4].fault);
}

BOOST_AUTO_TEST_CASE(faults_past_the_cap_still_count) {
    ScanLimits limits;
    limits.max_calls = 4;
    auto scan = response(multicall_answer(std::vector<int>(30, 403)), 0, limits);
    BOOST_TEST(scan.results.size() == 4u);
    BOOST_TEST(scan.results_seen == 30u);
    BOOST_TEST(scan.faults_403 == 30u);
}

BOOST_AUTO_TEST_CASE(out_of_range_codes_are_neither_403_nor_48) {
    auto huge = response(
        "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>"
        "4294967699</int></value></member></struct></value></fault></methodResponse>");
    BOOST_TEST(huge.fault_code.value_or(403) != 403);
}

BOOST_AUTO_TEST_CASE(the_same_verdict_at_every_split) {
    auto body = multicall_answer({403, 0, 48});
    auto whole = response(body);
    for (std::size_t split = 0; split <= body.size(); ++split) {
        ResponseScanner scanner;
        scanner.feed({body.data(), split});
        scanner.feed({body.data() + split, body.size() - split});
        scanner.finish();
        const auto& got = scanner.result();
        BOOST_TEST_REQUIRE(got.status == ScanStatus::Complete, "split " << split);
        BOOST_TEST_REQUIRE(got.faults_403 == whole.faults_403, "split " << split);
        BOOST_TEST_REQUIRE(got.results.size() == whole.results.size(), "split " << split);
        BOOST_TEST_REQUIRE(got.results[2].fault_code == 48, "split " << split);
    }
}

BOOST_AUTO_TEST_SUITE_END()

// The answer to a single call: WordPress's opening of a success is recognised without
// libxml2; anything else is parsed from its first byte. The verdict is the same.
BOOST_AUTO_TEST_SUITE(single_call_answers)

using detail::SuccessOpening;

constexpr std::string_view kDeclaration = R"(<?xml version="1.0" encoding="UTF-8"?>)";

std::string success_answer(std::string_view space = "\n  ") {
    return std::string(kDeclaration) + "\n<methodResponse>" + std::string(space) +
           "<params>\n    <param><value><string>Hello!</string></value></param>\n  </params>\n"
           "</methodResponse>\n";
}

// Answers that open almost as WordPress's success does, and stray from it.
std::vector<std::string> near_misses() {
    std::string success = success_answer();
    std::string declared_latin1 = success;
    declared_latin1.replace(declared_latin1.find("UTF-8"), 5, "ISO-8859-1");
    std::string commented = success;
    commented.insert(commented.find("<params>"), "<!-- -->");
    std::string spaced_tag = success;
    spaced_tag.replace(spaced_tag.find("<methodResponse>"), 16, "<methodResponse >");
    return {declared_latin1,          commented,         spaced_tag,
            "\xEF\xBB\xBF" + success, fault_answer(403), fault_answer(48),
            fault_answer(403, "i4")};
}

ResponseScan single_call(std::string_view body, std::size_t split) {
    ResponseScanner scanner;
    scanner.expect_single_call();
    scanner.feed({body.data(), split});
    scanner.feed({body.data() + split, body.size() - split});
    scanner.finish();
    return scanner.result();
}

BOOST_AUTO_TEST_CASE(the_opening_is_read_up_to_params_and_no_further) {
    std::string body = success_answer();
    SuccessOpening opening;
    std::size_t read = opening.read({body.data(), body.size()});
    BOOST_TEST((opening.verdict() == SuccessOpening::Verdict::Success));
    BOOST_TEST(read == body.find("<params>") + 8);
    BOOST_TEST(std::string_view(opening.held().data(), opening.held().size()) ==
               body.substr(0, read));
}

BOOST_AUTO_TEST_CASE(white_space_between_the_tags_in_any_form) {
    for (std::string_view space : {"", " ", "\n", "\r\n\t  ", "\n\n\n"}) {
        std::string body = std::string(kDeclaration) + std::string(space) + "<methodResponse>" +
                           std::string(space) + "<params>";
        SuccessOpening opening;
        for (char c : body) {  // a byte at a time: nothing depends on where pieces end
            opening.read({&c, 1});
        }
        BOOST_TEST((opening.verdict() == SuccessOpening::Verdict::Success),
                   "space " << space.size());
    }
}

BOOST_AUTO_TEST_CASE(the_first_byte_that_does_not_fit_is_left_for_the_parser) {
    std::vector<std::string> bodies = near_misses();
    bodies.push_back(success_answer().insert(0, 1, ' '));  // white space before the declaration
    for (const std::string& body : bodies) {
        SuccessOpening opening;
        std::size_t read = opening.read({body.data(), body.size()});
        BOOST_TEST_REQUIRE((opening.verdict() == SuccessOpening::Verdict::Strayed), body);
        BOOST_TEST(read < body.size());
        BOOST_TEST(std::string_view(opening.held().data(), opening.held().size()) ==
                   body.substr(0, read));
    }
    SuccessOpening endless;
    std::string spaces = std::string(kDeclaration) + std::string(200, ' ');
    BOOST_TEST(endless.read({spaces.data(), spaces.size()}) == SuccessOpening::kMaxHeld);
    BOOST_TEST((endless.verdict() == SuccessOpening::Verdict::Strayed));
}

BOOST_AUTO_TEST_CASE(the_same_verdict_as_reading_it_all_at_every_split) {
    std::string success = success_answer();
    std::vector<std::string> bodies = near_misses();
    bodies.push_back(success);
    bodies.push_back(success.substr(kDeclaration.size() + 1));          // no declaration
    bodies.push_back(success_answer(std::string(300, ' ')));            // more than can be held
    bodies.push_back(success.substr(0, success.find("<params>") - 3));  // truncated
    for (const std::string& body : bodies) {
        ResponseScan whole = response(body);
        for (std::size_t split = 0; split <= body.size(); ++split) {
            ResponseScan quick = single_call(body, split);
            BOOST_TEST_REQUIRE((quick.status == whole.status && quick.fault == whole.fault &&
                                quick.fault_code == whole.fault_code),
                               body << " split at " << split);
        }
    }
    // A success's opening is all it takes: what follows is never read.
    std::string spoiled = success.substr(0, success.find("<params>") + 8) + "<<<not xml";
    BOOST_TEST(single_call(spoiled, spoiled.size()).status == ScanStatus::Complete);
    BOOST_TEST(response(spoiled).status == ScanStatus::Malformed);
}

BOOST_AUTO_TEST_CASE(a_reused_scanner_reads_a_success_then_a_fault) {
    ResponseScanner scanner;
    std::string success = success_answer();
    std::string fault = fault_answer(403);
    for (int round = 0; round < 3; ++round) {
        scanner.reset();
        scanner.expect_single_call();
        scanner.feed({success.data(), success.size()});
        scanner.finish();
        BOOST_TEST((scanner.result().status == ScanStatus::Complete && !scanner.result().fault));
        scanner.reset();
        scanner.expect_single_call();
        scanner.feed({fault.data(), fault.size()});
        scanner.finish();
        BOOST_TEST(scanner.result().fault_code.value_or(0) == 403);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(hostile_input)

BOOST_AUTO_TEST_CASE(a_doctype_ends_the_scan_before_any_expansion) {
    std::string laughs =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
        "<methodCall><methodName>&lol3;</methodName></methodCall>";
    auto scan = request(laughs);
    BOOST_TEST(scan.status == ScanStatus::Malformed);
    BOOST_TEST(scan.method.empty());
}

BOOST_AUTO_TEST_CASE(an_external_entity_is_never_loaded) {
    // WordPress strips a DOCTYPE without '>' inside before parsing, and runs the rest:
    // nothing of it reaches libxml2, so nothing can be loaded.
    auto scan = request(
        "<?xml version=\"1.0\"?><!DOCTYPE m SYSTEM \"file:///etc/passwd\">"
        "<methodCall><methodName>x</methodName></methodCall>");
    BOOST_TEST(scan.status == ScanStatus::Complete);
    BOOST_TEST(scan.method == "x");
    auto inline_entity = request(
        "<!DOCTYPE m [<!ENTITY e SYSTEM \"file:///etc/hostname\">]>"
        "<methodCall><methodName>&e;</methodName></methodCall>");
    BOOST_TEST(inline_entity.status == ScanStatus::Malformed);
    BOOST_TEST(inline_entity.method.empty());
}

BOOST_AUTO_TEST_CASE(an_undeclared_entity_is_malformed) {
    BOOST_TEST(request(method_call("&nope;", "")).status == ScanStatus::Malformed);
}

BOOST_AUTO_TEST_CASE(deep_nesting_stops_at_the_depth_cap) {
    std::string body = "<methodCall><params><param>";
    for (int i = 0; i < 10000; ++i)
        body += "<value><array><data>";
    auto scan = request(body);
    BOOST_TEST(scan.status == ScanStatus::Malformed);
}

BOOST_AUTO_TEST_CASE(the_byte_cap_keeps_what_came_before) {
    ScanLimits limits;
    limits.max_bytes = 4096;
    std::string body =
        "<methodCall><methodName>wp.getUsersBlogs</methodName><params><param>"
        "<value><string>";
    body += std::string(100000, 'a');
    body += "</string></value></param></params></methodCall>";
    auto scan = request(body, 1000, limits);
    BOOST_TEST(scan.status == ScanStatus::OverLimit);
    BOOST_TEST(scan.method == "wp.getUsersBlogs");
    limits.max_bytes = body.size();
    BOOST_TEST(request(body, 1000, limits).status == ScanStatus::Complete);
}

BOOST_AUTO_TEST_CASE(garbage_empty_and_truncated_bodies_are_malformed) {
    BOOST_TEST(request("").status == ScanStatus::Malformed);
    BOOST_TEST(request("log=admin&pwd=x").status == ScanStatus::Malformed);
    BOOST_TEST(request("<methodCall><methodName>x</methodName>").status == ScanStatus::Malformed);
    BOOST_TEST(request(std::string("<methodCall>\0</methodCall>", 26)).status ==
               ScanStatus::Malformed);
    BOOST_TEST(response("<methodResponse><fault>").status == ScanStatus::Malformed);
}

BOOST_AUTO_TEST_CASE(a_document_that_is_not_xmlrpc_is_malformed) {
    BOOST_TEST(request("<html><body>hi</body></html>").status == ScanStatus::Malformed);
    BOOST_TEST(response(method_call("x", "")).status == ScanStatus::Malformed);
    BOOST_TEST(request(fault_answer(403)).status == ScanStatus::Malformed);
}

BOOST_AUTO_TEST_SUITE_END()
