// IXR_Message's rules for a value's text, one case per rule, each found or checked
// against WordPress's own parser (tests/parity): what cdata() gathers since the last
// tag, what tag_close() makes of it, and where a second value in one <value> goes.
#define BOOST_TEST_MODULE xmlrpc_reader
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "xmlrpc_reader.hpp"
#include "xmlrpcguard/user_names.hpp"
#include "xmlrpcguard/xmlrpc_scanner.hpp"

using namespace xmlrpcguard;
using detail::TagText;

namespace {

// The request scanner with user names on, fed in pieces of `piece` bytes (0: whole).
RequestScan read(std::string_view body, std::size_t piece = 0) {
    RequestScanner scanner;
    scanner.read_user_names();
    for (std::string_view rest = body; !rest.empty();) {
        std::string_view part = piece == 0 ? rest : rest.substr(0, piece);
        scanner.feed({part.data(), part.size()});
        rest.remove_prefix(part.size());
    }
    scanner.finish();
    return scanner.result();
}

// A multicall whose calls' methodName members hold `values` as written.
std::string multicall_of(const std::vector<std::string>& values) {
    std::string calls;
    for (const auto& value : values) {
        calls += "<value><struct><member><name>methodName</name><value>" + value +
                 "</value></member><member><name>params</name><value><array><data>"
                 "<value><string>admin</string></value><value><string>x</string></value>"
                 "</data></array></value></member></struct></value>";
    }
    return "<?xml version=\"1.0\"?>\n<methodCall><methodName>system.multicall</methodName>"
           "<params><param><value><array><data>" +
           calls + "</data></array></value></param></params></methodCall>";
}

std::vector<std::string> calls_of(const std::vector<std::string>& values) {
    return read(multicall_of(values)).calls;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tag_text)

BOOST_AUTO_TEST_CASE(the_exact_text_keeps_leading_white_space_byte_for_byte) {
    TagText text;
    text.append(" \n");
    text.append("\t");
    text.append("\r name ");
    std::string scratch;
    BOOST_TEST(text.exact(128, scratch) == " \n\t\r name ");
    BOOST_TEST(text.exact(5, scratch) == " \n\t\r ");
    BOOST_TEST(text.trimmed() == "name");
    BOOST_TEST(text.had_leading_space());
    text.clear();
    text.append("name\n");
    BOOST_TEST(text.exact(128, scratch) == "name\n");
    BOOST_TEST(!text.had_leading_space());
}

BOOST_AUTO_TEST_CASE(a_long_leading_run_is_kept_to_its_cap_and_trim_still_sees_past_it) {
    TagText text;
    text.append(std::string(300, ' '));
    text.append("pingback.ping");
    std::string scratch;
    BOOST_TEST(text.exact(TagText::kLeadCap, scratch) == std::string(TagText::kLeadCap, ' '));
    BOOST_TEST(text.trimmed() == "pingback.ping");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(untyped_value)

// IXR: $value = (string)$this->_currentTagContents, not trimmed; only the test for
// blank trims. libxml2 hands a CR as LF (a literal one; &#13; stays CR).
BOOST_AUTO_TEST_CASE(keeps_its_leading_white_space_exactly) {
    auto calls = calls_of({" wp.getUsersBlogs ", "\n\twp.getUsersBlogs", " \rwp.getUsersBlogs",
                           "&#13;pingback.ping", " &#32;\n<![CDATA[ ]]>pingback.ping"});
    BOOST_TEST(calls == (std::vector<std::string>{" wp.getUsersBlogs ", "\n\twp.getUsersBlogs",
                                                  " \nwp.getUsersBlogs", "\rpingback.ping",
                                                  "  \n pingback.ping"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(leading_white_space_longer_than_a_name_leaves_no_name) {
    auto calls = calls_of({std::string(200, ' ') + "pingback.ping"});
    BOOST_REQUIRE(calls.size() == 1u);
    BOOST_TEST(calls[0] == std::string(RequestScan::kMaxMethodName, ' '));
}

BOOST_AUTO_TEST_CASE(blank_text_is_no_value) {
    // The member gets no value: the call has no method name.
    auto calls = calls_of({" \n\t", "&#13;"});
    BOOST_TEST(calls == (std::vector<std::string>{"", ""}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_same_reading_at_every_split) {
    auto body = multicall_of({" \n\twp.getUsersBlogs", "<string>x</string>\r tail"});
    auto whole = read(body);
    BOOST_TEST(whole.calls == (std::vector<std::string>{" \n\twp.getUsersBlogs", "\n tail"}),
               boost::test_tools::per_element());
    for (std::size_t piece = 1; piece < 12; ++piece) {
        BOOST_TEST_REQUIRE(read(body, piece).calls == whole.calls, "piece " << piece);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(mixed_content)

// tag_open and tag_close both empty _currentTagContents, so what stands between a
// typed value's end and </value> is a value of its own; in a struct it goes under the
// same name, and the later one wins.
BOOST_AUTO_TEST_CASE(text_after_a_typed_value_is_a_second_value_that_wins_in_a_struct) {
    auto calls = calls_of({"<string>pingback.ping</string>tail", "<string>x</string>\n tail\t",
                           "<string>pingback.ping</string> \n "});
    BOOST_TEST(calls == (std::vector<std::string>{"tail", "\n tail\t", "pingback.ping"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(text_before_a_typed_value_is_forgotten_when_it_opens) {
    auto calls = calls_of({"wp.getUsersBlogs<string>pingback.ping</string>"});
    BOOST_TEST(calls == std::vector<std::string>{"pingback.ping"},
               boost::test_tools::per_element());
}

// In an array the second value is a second element: params[0] gets two calls.
BOOST_AUTO_TEST_CASE(text_after_a_typed_value_is_a_second_element_in_an_array) {
    auto body = std::string(
        "<methodCall><methodName>system.multicall</methodName><params><param><value><array>"
        "<data><value><struct><member><name>methodName</name><value>pingback.ping</value>"
        "</member></struct>tail</value></data></array></value></param></params></methodCall>");
    auto scan = read(body);
    BOOST_TEST(scan.calls == (std::vector<std::string>{"pingback.ping", ""}),
               boost::test_tools::per_element());
    BOOST_TEST(scan.calls_seen == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(user_names)

// sanitize_user() trims, so leading white space of an untyped value reaches the
// account all the same, however long the run.
BOOST_AUTO_TEST_CASE(an_untyped_name_with_leading_white_space_is_the_account) {
    for (std::string space : {std::string("\n\t "), std::string(200, ' ')}) {
        auto scan = read(
            "<methodCall><methodName>wp.getUsersBlogs</methodName><params><param><value>" + space +
            "admin</value></param><param><value>pw</value></param></params></methodCall>");
        BOOST_TEST(login_fold(scan.user) == "admin");
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(struct_keys)

std::string struct_of_calls(const std::vector<std::pair<std::string, std::string>>& members) {
    std::string inner;
    for (const auto& [key, method] : members) {
        inner += "<member><name>" + key +
                 "</name><value><struct><member><name>methodName</name>"
                 "<value>" +
                 method + "</value></member></struct></value></member>";
    }
    return "<methodCall><methodName>system.multicall</methodName><params><param><value><struct>" +
           inner + "</struct></value></param></params></methodCall>";
}

// params[0] as a struct: its values are the calls in key order, a key keeping its
// first place and its last value. Keys are compared as PHP compares them, by their
// trimmed text (not by a hash, which could be made to collide and merge two calls).
BOOST_AUTO_TEST_CASE(keys_are_told_apart_by_their_trimmed_text) {
    auto scan = read(struct_of_calls(
        {{"a", "pingback.ping"}, {" a ", "wp.getUsersBlogs"}, {"", "x"}, {"0", "y"}, {"00", "z"}}));
    BOOST_TEST(scan.calls == (std::vector<std::string>{"wp.getUsersBlogs", "x", "y", "z"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(long_keys_are_told_apart_past_what_is_kept) {
    std::string prefix(300, 'k');
    auto scan = read(struct_of_calls({{prefix + "a", "pingback.ping"},
                                      {prefix + "b", "wp.getUsersBlogs"},
                                      {" " + prefix + "a\n", "wp.getPosts"}}));
    BOOST_TEST(scan.calls == (std::vector<std::string>{"wp.getPosts", "wp.getUsersBlogs"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_key_is_its_text_or_for_a_long_one_more_bytes_than_any_short_one) {
    TagText text;
    std::string key;
    text.append(" \tmethodName\n");
    text.trimmed_key(key);
    BOOST_TEST(key == "methodName");
    text.clear();
    text.append(std::string(TagText::kCap + 1, 'k'));
    text.trimmed_key(key);
    BOOST_TEST(key.size() > TagText::kCap);
    BOOST_TEST(key.substr(0, TagText::kCap) == std::string(TagText::kCap, 'k'));
}

BOOST_AUTO_TEST_SUITE_END()

// The readers act on a name only when it is exactly one of IXR's: tag_of() tells each
// apart and every near miss (a byte more, less or changed, another case) is Other.
BOOST_AUTO_TEST_CASE(tag_of_knows_each_name_exactly) {
    using detail::Tag;
    const std::pair<std::string_view, Tag> names[] = {{"methodCall", Tag::MethodCall},
                                                      {"methodResponse", Tag::MethodResponse},
                                                      {"fault", Tag::Fault},
                                                      {"methodName", Tag::MethodName},
                                                      {"data", Tag::Data},
                                                      {"struct", Tag::Struct},
                                                      {"member", Tag::Member},
                                                      {"name", Tag::Name},
                                                      {"value", Tag::Value},
                                                      {"int", Tag::Int},
                                                      {"i4", Tag::I4},
                                                      {"string", Tag::String},
                                                      {"base64", Tag::Base64},
                                                      {"double", Tag::Double},
                                                      {"boolean", Tag::Boolean},
                                                      {"dateTime.iso8601", Tag::DateTime}};
    for (auto [name, tag] : names) {
        BOOST_TEST((detail::tag_of(name) == tag), name);
        std::string near(name);
        BOOST_TEST((detail::tag_of(near + "x") == Tag::Other), name);
        BOOST_TEST((detail::tag_of(near.substr(1)) == Tag::Other), name);
        BOOST_TEST((detail::tag_of(near.substr(0, near.size() - 1)) == Tag::Other), name);
        for (std::size_t i = 0; i < near.size(); ++i) {
            std::string changed = near;
            changed[i] = static_cast<char>(changed[i] ^ 0x20);  // case, or '.' to '\x0e'
            BOOST_TEST((detail::tag_of(changed) == Tag::Other), changed);
        }
    }
    for (std::string_view other : {"", "params", "param", "array", "nil", "p:value", "Value"}) {
        BOOST_TEST((detail::tag_of(other) == Tag::Other), other);
    }
}
