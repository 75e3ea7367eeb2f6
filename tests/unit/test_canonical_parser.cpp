// The canonical recogniser (core/canonical_parser.hpp) against the parser of record,
// libxml2 in PHP's setup (SaxPushParser): the same events and the same verdict for
// every body, read by the recogniser when it is canonical, handed to libxml2 from its
// first byte when it is not. tests/fuzz/fuzz_recogniser.cpp does the same for
// arbitrary bodies at the scanner's level.
#define BOOST_TEST_MODULE canonical_parser
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "canonical_parser.hpp"
#include "sax_push_parser.hpp"
#include "xmlrpcguard/xmlrpc_scanner.hpp"

using namespace xmlrpcguard;
using xmlrpcguard::detail::CanonicalPushParser;
using xmlrpcguard::detail::SaxPushParser;

namespace xmlrpcguard {
std::ostream& operator<<(std::ostream& out, ScanStatus status) {
    return out << to_string(status);
}
}  // namespace xmlrpcguard

namespace {

// The events as one list; texts next to each other are joined (libxml2 may cut a text
// anywhere, the reader joins the pieces), so the list says what the reader heard.
struct Recorder final : detail::SaxListener {
    void on_open(std::string_view name) override { events.push_back("<" + std::string(name)); }
    void on_close(std::string_view name) override { events.push_back("/" + std::string(name)); }
    void on_text(std::string_view text) override {
        if (!events.empty() && events.back().starts_with("'")) {
            events.back() += text;
        } else {
            events.push_back("'" + std::string(text));
        }
    }
    std::vector<std::string> events;
};

struct Heard {
    std::vector<std::string> events;
    ScanStatus status;
    bool fell_back = true;
};

// Feeds the body cut at each of `cuts` (ascending), then finishes.
template <class Parser>
Heard read(std::string_view body, const std::vector<std::size_t>& cuts = {},
           ScanLimits limits = {}) {
    Recorder recorder;
    Parser parser(recorder, limits);
    std::size_t from = 0;
    for (std::size_t cut : cuts) {
        parser.feed({body.data() + from, cut - from});
        from = cut;
    }
    parser.feed({body.data() + from, body.size() - from});
    parser.finish();
    Heard heard{std::move(recorder.events), parser.status()};
    if constexpr (std::is_same_v<Parser, CanonicalPushParser>) {
        heard.fell_back = parser.fell_back();
    }
    return heard;
}

// The recogniser hears what libxml2 hears, and reads the body itself when `canonical`.
void check(std::string_view body, bool canonical, const std::vector<std::size_t>& cuts = {},
           ScanLimits limits = {}) {
    BOOST_TEST_CONTEXT("body " << body) {
        Heard expected = read<SaxPushParser>(body, {}, limits);
        Heard got = read<CanonicalPushParser>(body, cuts, limits);
        BOOST_TEST(got.events == expected.events, boost::test_tools::per_element());
        BOOST_TEST(got.status == expected.status);
        BOOST_TEST(got.fell_back == !canonical);
    }
}

const std::string kCall =
    "<methodCall>\n  <methodName>wp.getUsersBlogs</methodName>\n  <params>\n"
    "    <param><value><string>admin</string></value></param>\n"
    "    <param><value>secret word</value></param>\n  </params>\n</methodCall>\n";

}  // namespace

BOOST_AUTO_TEST_CASE(a_canonical_call_is_read_without_libxml2_and_heard_the_same) {
    check(kCall, true);
    Heard heard = read<CanonicalPushParser>(kCall);
    BOOST_TEST(heard.status == ScanStatus::Complete);
    BOOST_TEST(heard.events.front() == "<methodCall");
    BOOST_TEST(heard.events.back() == "/methodCall");
}

BOOST_AUTO_TEST_CASE(split_at_every_byte) {
    for (std::size_t cut = 0; cut <= kCall.size(); ++cut) {
        check(kCall, true, {cut});
    }
    for (std::size_t cut = 0; cut + 7 <= kCall.size(); cut += 3) {
        check(kCall, true, {cut, cut + 1, cut + 7});
    }
}

BOOST_AUTO_TEST_CASE(text_is_one_piece_between_two_tags_and_white_space_is_text) {
    std::string body = "<methodCall>\n\t <methodName> a b\tc\n</methodName>  \n</methodCall>";
    Heard heard = read<CanonicalPushParser>(body);
    std::vector<std::string> expected{"<methodCall", "'\n\t ", "<methodName", "' a b\tc\n",
                                      "/methodName", "'  \n",  "/methodCall"};
    BOOST_TEST(heard.events == expected, boost::test_tools::per_element());
    check(body, true);
    // White space around the root is not text, for libxml2 either.
    check(" \n\t<methodCall>x</methodCall>\n \t\n", true);
}

BOOST_AUTO_TEST_CASE(an_untyped_value_an_empty_element_and_space_before_the_angle) {
    check(
        "<methodCall><params><param><value>admin</value></param><param><value/></param>"
        "<param><value >  </value ></param><param><value\n/></param></params></methodCall>",
        true);
    check("<methodCall/>", true);
    check("<methodCall >\n</methodCall\t>", true);
}

BOOST_AUTO_TEST_CASE(names_that_merely_start_like_known_ones) {
    check(
        "<methodCall><methodNameX>a</methodNameX><methodName.2>b</methodName.2>"
        "<methodName-x>c</methodName-x><methodName_>d</methodName_><_a>e</_a><A9.-_>f</A9.-_>"
        "<methodName>g</methodName></methodCall>",
        true);
    // A prefix is no namespace for PHP's SAX1 setup; the recogniser leaves it to libxml2.
    check("<methodCall><p:methodName>h</p:methodName></methodCall>", false);
}

BOOST_AUTO_TEST_CASE(a_byte_outside_the_grammar_at_every_position_goes_to_libxml2) {
    for (char odd : {'&', '\r', '\x80', ']', '\x01', '\0', '>'}) {
        for (std::size_t at = 0; at <= kCall.size(); ++at) {
            std::string inserted = kCall;
            inserted.insert(at, 1, odd);
            check(inserted, false, {at / 2});
        }
    }
    for (std::size_t at = 0; at < kCall.size(); ++at) {
        std::string replaced = kCall;
        replaced[at] = '&';
        check(replaced, false, {at});
    }
}

BOOST_AUTO_TEST_CASE(what_the_grammar_leaves_to_libxml2) {
    for (std::string_view body : {
             "",
             "   ",
             "<?xml version=\"1.0\"?><methodCall/>",
             "<methodCall><!-- x --></methodCall>",
             "<methodCall><![CDATA[x]]></methodCall>",
             "<methodCall><?pi x?></methodCall>",
             "<!DOCTYPE methodCall><methodCall/>",
             "<methodCall a=\"1\"></methodCall>",
             "<methodCall>&amp;</methodCall>",
             "<methodCall>a&#65;</methodCall>",
             "<methodCall></methodcall>",
             "<methodCall><a></b></methodCall>",
             "<methodCall>",
             "<methodCall></methodCall><more/>",
             "<methodCall></methodCall>x",
             "</methodCall>",
             "<methodCall>\xc3\xa9</methodCall>",
             "\xef\xbb\xbf<methodCall/>",
             "<methodCall>a\r\nb</methodCall>",
             "<methodCall>]]></methodCall>",
             "<1a/>",
             "<methodCall></ methodCall>",
             "< methodCall/>",
             "<methodCall/ >",
         }) {
        check(body, false);
    }
}

BOOST_AUTO_TEST_CASE(bounds_send_a_body_to_libxml2) {
    std::string deep;
    for (unsigned i = 0; i < CanonicalPushParser::kMaxDepth; ++i) {
        deep += "<a>";
    }
    std::string closing;
    for (unsigned i = 0; i < CanonicalPushParser::kMaxDepth; ++i) {
        closing += "</a>";
    }
    check(deep + closing, true);
    check(deep + "<a></a>" + closing, false);
    check("<m>" + std::string(CanonicalPushParser::kMaxName, 'n') + "</m>", true);
    std::string long_name(CanonicalPushParser::kMaxName + 1, 'n');
    check("<" + long_name + "></" + long_name + ">", false);
    // Past the held budget, or past a lower depth cap (libxml2 decides and refuses).
    check(kCall, false, {}, ScanLimits{.canonical_bytes = kCall.size() - 1});
    check(kCall, true, {10}, ScanLimits{.canonical_bytes = kCall.size()});
    check(kCall, false, {}, ScanLimits{.canonical_bytes = 0});
    check(kCall, false, {}, ScanLimits{.max_depth = 2});
    check(kCall, false, {}, ScanLimits{.max_bytes = 40});
}

BOOST_AUTO_TEST_CASE(a_stop_while_holding_replays_to_libxml2_first) {
    Recorder recorder;
    CanonicalPushParser parser(recorder, {});
    parser.feed({kCall.data(), 40});
    parser.stop(ScanStatus::Malformed);
    BOOST_TEST(parser.fell_back());
    BOOST_TEST(parser.status() == ScanStatus::Malformed);
    Recorder reference_recorder;
    SaxPushParser reference(reference_recorder, {});
    reference.feed({kCall.data(), 40});
    reference.stop(ScanStatus::Malformed);
    BOOST_TEST(recorder.events == reference_recorder.events, boost::test_tools::per_element());
    parser.finish();
    BOOST_TEST(parser.status() == ScanStatus::Malformed);
}

BOOST_AUTO_TEST_CASE(reset_reads_the_next_body_afresh) {
    Recorder recorder;
    CanonicalPushParser parser(recorder, {});
    parser.feed({"<a>&</a>", 8});
    parser.finish();
    BOOST_TEST(parser.fell_back());
    BOOST_TEST(parser.status() == ScanStatus::Malformed);
    parser.reset();
    recorder.events.clear();
    parser.feed({kCall.data(), kCall.size()});
    parser.finish();
    BOOST_TEST(!parser.fell_back());
    BOOST_TEST(parser.status() == ScanStatus::Complete);
    BOOST_TEST(recorder.events == read<SaxPushParser>(kCall).events,
               boost::test_tools::per_element());
}

// A listener that stops the parse from inside an event: nothing more is heard.
BOOST_AUTO_TEST_CASE(a_listener_stop_ends_the_events) {
    struct Stopper final : detail::SaxListener {
        CanonicalPushParser* parser = nullptr;
        int opened = 0;
        void on_open(std::string_view) override {
            if (++opened == 2) {
                parser->stop(ScanStatus::Complete);
            }
        }
        void on_close(std::string_view) override { ++closed; }
        void on_text(std::string_view) override {}
        int closed = 0;
    } stopper;
    CanonicalPushParser parser(stopper, {});
    stopper.parser = &parser;
    parser.feed({kCall.data(), kCall.size()});
    parser.finish();
    BOOST_TEST(stopper.opened == 2);
    BOOST_TEST(stopper.closed == 0);
    BOOST_TEST(parser.status() == ScanStatus::Complete);
}
