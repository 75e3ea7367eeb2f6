#define BOOST_TEST_MODULE address
#include <boost/test/unit_test.hpp>

#include <string>

#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/address_set.hpp"
#include "xmlrpcguard/durations.hpp"
#include "xmlrpcguard/login_marker.hpp"

using namespace xmlrpcguard;

namespace xmlrpcguard {
std::ostream& boost_test_print_type(std::ostream& out, const Address& address) {
    return out << address.to_string();
}
}  // namespace xmlrpcguard

BOOST_AUTO_TEST_CASE(ipv4_is_held_mapped_and_prints_dotted) {
    auto a = Address::parse("198.18.1.10");
    BOOST_REQUIRE(a);
    BOOST_TEST(a->is_ipv4());
    BOOST_TEST(a->to_string() == "198.18.1.10");
    BOOST_TEST(*a == *Address::parse("::ffff:198.18.1.10"));
    BOOST_TEST(*a == Address::from_ipv4(0xC612010A));
}

BOOST_AUTO_TEST_CASE(ipv6_round_trips_in_rfc5952_form) {
    auto a = Address::parse("2001:0db8:0000:0000:0000:0000:0000:0001");
    BOOST_REQUIRE(a);
    BOOST_TEST(!a->is_ipv4());
    BOOST_TEST(a->to_string() == "2001:db8::1");
}

BOOST_AUTO_TEST_CASE(garbage_is_refused) {
    for (const char* text : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "2001:db8::1::2", "[::1]",
                             "fe80::1%eth0", "198.18.1.10 ", "a"}) {
        BOOST_TEST(!Address::parse(text), text);
    }
    BOOST_TEST(!Address::parse(std::string(200, '1')));
}

BOOST_AUTO_TEST_CASE(loopback_of_both_families) {
    BOOST_TEST(Address::parse("127.0.0.1")->is_loopback());
    BOOST_TEST(Address::parse("127.255.1.2")->is_loopback());
    BOOST_TEST(Address::parse("::1")->is_loopback());
    BOOST_TEST(!Address::parse("198.18.0.1")->is_loopback());
    BOOST_TEST(!Address::parse("::2")->is_loopback());
}

BOOST_AUTO_TEST_CASE(offender_key_masks_ipv6_only) {
    auto v6 = *Address::parse("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    BOOST_TEST(v6.offender_key(64).to_string() == "2001:db8:1:2::");
    BOOST_TEST(v6.offender_key(48).to_string() == "2001:db8:1::");
    BOOST_TEST(v6.offender_key(128) == v6);
    auto v4 = *Address::parse("198.18.1.10");
    BOOST_TEST(v4.offender_key(64) == v4);
    BOOST_TEST(v4.masked(24).to_string() == "198.18.1.0");
    BOOST_TEST(v4.masked(15).to_string() == "198.18.0.0");
    BOOST_TEST(v4.masked(0).to_string() == "0.0.0.0");
    BOOST_TEST(v4.masked(0).is_ipv4());
}

BOOST_AUTO_TEST_CASE(cidr_blocks_match_their_family_only) {
    auto net = *Cidr::parse("198.18.0.0/15");
    BOOST_TEST(net.contains(*Address::parse("198.19.255.255")));
    BOOST_TEST(!net.contains(*Address::parse("198.20.0.0")));
    BOOST_TEST(net.to_string() == "198.18.0.0/15");

    auto v6 = *Cidr::parse("2001:db8::/32");
    BOOST_TEST(v6.contains(*Address::parse("2001:db8:ffff::1")));
    BOOST_TEST(!v6.contains(*Address::parse("2001:db9::1")));
    BOOST_TEST(!v6.contains(*Address::parse("198.18.0.1")));

    auto all4 = *Cidr::parse("0.0.0.0/0");
    BOOST_TEST(all4.contains(*Address::parse("203.0.113.9")));
    BOOST_TEST(!all4.contains(*Address::parse("2001:db8::1")));

    auto host = *Cidr::parse("198.18.1.10");
    BOOST_TEST(host.prefix == 32u);
    BOOST_TEST(host.contains(*Address::parse("198.18.1.10")));
    BOOST_TEST(!host.contains(*Address::parse("198.18.1.11")));

    auto mapped = *Cidr::parse("::ffff:198.18.0.0/112");
    BOOST_TEST(mapped.prefix == 16u);
    BOOST_TEST(mapped.contains(*Address::parse("198.18.77.1")));
}

BOOST_AUTO_TEST_CASE(bad_cidrs_are_refused) {
    for (const char* text : {"198.18.0.0/33", "2001:db8::/129", "198.18.0.0/", "198.18.0.0/x",
                             "/24", "198.18.0.0/-1", "198.18.0.0/24/1", "::ffff:1.2.3.4/95"}) {
        BOOST_TEST(!Cidr::parse(text), text);
    }
}

BOOST_AUTO_TEST_CASE(address_set_is_additive_and_knows_loopback) {
    AddressSet set = AddressSet::loopback();
    BOOST_TEST(set.contains(*Address::parse("127.0.0.1")));
    BOOST_TEST(set.contains(*Address::parse("::1")));
    BOOST_TEST(!set.contains(*Address::parse("198.18.1.10")));
    AddressSet more;
    more.add(*Cidr::parse("198.18.1.0/24"));
    set.add_all(more);
    BOOST_TEST(set.contains(*Address::parse("198.18.1.10")));
    BOOST_TEST(set.blocks().size() == 3u);
}

BOOST_AUTO_TEST_CASE(durations_accept_fail2ban_forms) {
    BOOST_TEST(*parse_duration("3600") == 3600u);
    BOOST_TEST(*parse_duration("45s") == 45u);
    BOOST_TEST(*parse_duration("10m") == 600u);
    BOOST_TEST(*parse_duration("1h") == 3600u);
    BOOST_TEST(*parse_duration("1d") == 86400u);
    BOOST_TEST(*parse_duration("2w") == 1209600u);
    BOOST_TEST(*parse_duration("0") == 0u);
    for (const char* text : {"", "h", "-1", "+5", "1.5h", "10 m", "1y", "1hh", "99999999999",
                             "4000d", "18446744073709551616"}) {
        BOOST_TEST(!parse_duration(text), text);
    }
}

namespace {
bool find_in_pieces(std::string_view html, std::size_t piece) {
    LoginMarkerFinder finder;
    for (std::size_t at = 0; at < html.size(); at += piece) {
        auto chunk = html.substr(at, piece);
        finder.feed({chunk.data(), chunk.size()});
    }
    return finder.found();
}
}  // namespace

BOOST_AUTO_TEST_CASE(login_marker_is_found_across_any_split) {
    std::string html =
        "<html><body><div id=\"login\"><div id=\"login_error\">\n"
        "<strong>Error:</strong> The password you entered...</div>";
    for (std::size_t piece = 1; piece <= html.size(); ++piece) {
        BOOST_TEST(find_in_pieces(html, piece), "piece " << piece);
    }
    BOOST_TEST(!find_in_pieces("<div id=\"login\"><form id=\"loginform\">", 1));
    BOOST_TEST(!find_in_pieces("id=\"login_erro", 3));
    BOOST_TEST(find_in_pieces("iid=\"login_error\"", 2));
    BOOST_TEST(find_in_pieces("id=\"lid=\"login_error\"", 1));
    // A partial match whose own tail starts the marker (found by fuzz_config_values).
    BOOST_TEST(find_in_pieces("id=\"logid=\"login_error\"", 1));
    BOOST_TEST(find_in_pieces("id=\"logid=\"login_error\"", 100));
}
