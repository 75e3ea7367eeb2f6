// WordPress's pre-processing of a request body (core/ixr_preamble.hpp) settled on one
// held buffer (IxrPreamble::settle) against the streaming pass (feed() of the whole
// body, then finish()): the same bytes for the parser and the same refusal, for every
// body built from heads, roots, fillers and tails around the windows' edges.
// tests/fuzz/fuzz_recogniser.cpp holds the two to the same on arbitrary bodies.
#define BOOST_TEST_MODULE ixr_preamble
#include <boost/test/unit_test.hpp>

#include <span>
#include <string>
#include <string_view>

#include "ixr_preamble.hpp"

using xmlrpcguard::detail::ByteSink;
using xmlrpcguard::detail::IxrPreamble;

namespace {

struct Collected final : ByteSink {
    void take(std::span<const char> bytes) override { text.append(bytes.data(), bytes.size()); }
    std::string text;
};

struct Outcome {
    bool refused;
    std::string passed;
};

Outcome streamed(std::string_view body) {
    IxrPreamble preamble;
    Collected sink;
    preamble.feed(body, sink);
    preamble.finish(sink);
    return {preamble.verdict() == IxrPreamble::Verdict::Refused, sink.text};
}

Outcome settled(std::string_view body) {
    std::string held(body);
    IxrPreamble::Settled settled = IxrPreamble::settle(held);
    BOOST_TEST_REQUIRE(settled.from <= settled.to);
    BOOST_TEST_REQUIRE(settled.to <= held.size());
    return {settled.refused, held.substr(settled.from, settled.to - settled.from)};
}

std::size_t compare(std::string_view body) {
    Outcome a = streamed(body);
    Outcome b = settled(body);
    if (a.refused != b.refused || a.passed != b.passed) {
        BOOST_ERROR("body \"" << body << "\": streamed refused=" << a.refused << " \"" << a.passed
                              << "\", settled refused=" << b.refused << " \"" << b.passed << "\"");
        return 1;
    }
    return 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_fixtures_heads) {
    BOOST_TEST(compare("<?xml version=\"1.0\"?>\n<methodCall><methodName>wp.getUsersBlogs"
                       "</methodName><params></params></methodCall>\n") == 0u);
    BOOST_TEST(compare("") == 0u);
    BOOST_TEST(compare(" \r\n\t") == 0u);
    BOOST_TEST(compare("<methodCall>") == 0u);
    BOOST_TEST(compare("<methodCall/>") == 0u);
}

// Every combination of the parts, with fillers across the 20-, 100- and 200-byte
// windows (each sixteenth length, a different one for each combination), so that each
// window ends inside, at or past the body's end.
BOOST_AUTO_TEST_CASE(combinations_across_the_windows) {
    using namespace std::string_view_literals;
    const std::string_view leads[] = {""sv, " "sv, "\r\n\t \0\x0B"sv, "\n\n\n\n\n\n\n\n\n\n\n\n"sv};
    const std::string_view declarations[] = {""sv,
                                             "<?xml version=\"1.0\"?>"sv,
                                             "<?xml?>"sv,
                                             "<?xml "sv,
                                             " <?xml a?> "sv,
                                             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"sv};
    const std::string_view doctypes[] = {""sv, "<!DOCTYPE m>"sv, "<!doctype x SYSTEM \"y\">\n"sv,
                                         "<!DOCTYPE m [<!ENTITY e \"x\">]>"sv, "<!DOCTYPE"sv};
    const std::string_view roots[] = {
        "<methodCall>"sv, "<methodResponse "sv,      "<fault\t>"sv,    "<methodCallX>"sv,
        "<x>"sv,          "<methodCall><?xml a?>"sv, "<methodCall "sv, "<methodCall>\0x"sv};
    const std::string_view tails[] = {""sv,       " \n"sv, "\0 "sv, "\0x"sv,
                                      "\x0B\n"sv, "\r"sv,  "?>"sv,  "\0\x0B \r\0"sv};
    std::size_t failures = 0;
    std::size_t bodies = 0;
    std::size_t combination = 0;
    for (auto lead : leads) {
        for (auto declaration : declarations) {
            for (auto doctype : doctypes) {
                for (auto root : roots) {
                    for (auto tail : tails) {
                        ++combination;
                        for (std::size_t filler = combination % 16; filler <= 230 && failures < 10;
                             filler += 16) {
                            std::string body;
                            body.append(lead).append(declaration).append(doctype).append(root);
                            for (std::size_t i = 0; i < filler; ++i) {
                                body.push_back(i % 7 == 3 ? ' ' : i % 11 == 5 ? '>' : 'a');
                            }
                            body.append(tail);
                            failures += compare(body);
                            ++bodies;
                        }
                    }
                }
            }
        }
    }
    BOOST_TEST_MESSAGE(bodies << " bodies compared");
    BOOST_TEST(failures == 0u);
}

// White space that ends the body exactly at a window's edge, or just before or after.
BOOST_AUTO_TEST_CASE(trailing_white_space_at_the_windows_edges) {
    std::size_t failures = 0;
    for (std::size_t size = 1; size <= 240; ++size) {
        for (std::string_view space : {" ", "\r", "\0", "\n \x0B"}) {
            for (std::string_view head : {"<?xml?>", "<!DOCTYPE a>", ""}) {
                std::string body(head);
                body.append("<methodCall>");
                while (body.size() < size) {
                    body.push_back('b');
                }
                body.resize(size);
                body.append(space);
                failures += compare(body);
            }
        }
    }
    BOOST_TEST(failures == 0u);
}
