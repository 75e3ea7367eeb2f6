#define BOOST_TEST_MODULE prefix_ban_helper
#include <boost/test/unit_test.hpp>

#include <string>

#include "test_window_table_support.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/prefix_ban.hpp"
#include "xmlrpcguard/prefix_ban_helper.hpp"
#include "xmlrpcguard/prefix_table.hpp"

using namespace xmlrpcguard;
using xrg_test::SharedRegion;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;

Cidr cidr(const char* text) {
    return *Cidr::parse(text);
}

BanMessage message(const char* prefix, std::uint32_t seconds = 600) {
    return encode_prefix({cidr(prefix), seconds});
}

std::span<const std::byte> bytes(const BanMessage& m) {
    return {m.data(), m.size()};
}

PrefixHelperSettings settings() {
    PrefixHelperSettings s;
    s.never_ban.add(cidr("198.18.4.1"));
    s.never_ban.add(cidr("2001:db8:1::1"));
    return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(messages_round_trip_and_bad_ones_are_refused) {
    auto decoded = decode_prefix(bytes(message("198.18.5.0/24", 77)));
    BOOST_REQUIRE(decoded);
    BOOST_TEST(decoded->prefix.to_string() == "198.18.5.0/24");
    BOOST_TEST(decoded->seconds == 77u);
    BOOST_TEST(decode_prefix(bytes(message("2001:db8:7::/48")))->prefix.to_string() ==
               "2001:db8:7::/48");
    // Wider than the floor, a single address, bits past the prefix, no duration.
    BOOST_TEST(!decode_prefix(bytes(message("198.0.0.0/8"))));
    BOOST_TEST(!decode_prefix(bytes(message("198.18.5.1/32"))));
    BOOST_TEST(!decode_prefix(bytes(message("2001:db8::/16"))));
    BOOST_TEST(!decode_prefix(bytes(message("198.18.5.0/24", 0))));
    BanMessage m = message("198.18.5.0/24");
    m[15 + 12] = std::byte{1};  // a host bit of the network
    BOOST_TEST(!decode_prefix(bytes(m)));
    m = message("198.18.5.0/24");
    BOOST_TEST(!decode_prefix(std::span<const std::byte>(m.data(), m.size() - 1)));
    m[6] = std::byte{1};
    BOOST_TEST(!decode_prefix(bytes(m)));
    // An address ban's message is not a prefix message, and the reverse.
    BanMessage address = encode({*Address::parse("198.18.5.1"), 32, 60});
    BOOST_TEST(!is_prefix_message(bytes(address)));
    BOOST_TEST(!decode(bytes(message("198.18.5.0/24"))));
}

BOOST_AUTO_TEST_CASE(the_helper_obeys_only_the_configured_size_and_never_a_protected_one) {
    RecordingSink sink;
    PrefixBanHelper helper(sink, settings(), nullptr);
    std::string error;
    BOOST_TEST(
        (helper.on_message(bytes(message("198.18.5.0/24")), kT0, error) == HelperVerdict::Added));
    BOOST_TEST(
        (helper.on_message(bytes(message("2001:db8:7::/48")), kT0, error) == HelperVerdict::Added));
    BOOST_REQUIRE(sink.added.size() == 2u);
    BOOST_TEST(sink.added[0].prefix == 24);
    BOOST_TEST((helper.on_message(bytes(message("198.18.0.0/16")), kT0, error) ==
                HelperVerdict::Protected));  // not the configured /24
    BOOST_TEST((helper.on_message(bytes(message("198.18.4.0/24")), kT0, error) ==
                HelperVerdict::Protected));  // holds an ignored address
    BOOST_TEST((helper.on_message(bytes(message("127.0.0.0/24")), kT0, error) ==
                HelperVerdict::Protected));  // loopback
    BOOST_TEST((helper.on_message(bytes(message("2001:db8:1::/48")), kT0, error) ==
                HelperVerdict::Protected));
    BOOST_TEST(helper.refusal(cidr("198.18.4.0/24")).find("198.18.4.1/32") != std::string::npos);
    BOOST_TEST(sink.added.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_flood_of_forged_prefixes_meets_the_ceiling) {
    RecordingSink sink;
    PrefixBanHelper helper(sink, settings(), nullptr);
    std::string error;
    std::size_t added = 0;
    for (int n = 0; n < 200; ++n) {
        std::string p = "198.19." + std::to_string(n) + ".0/24";
        added += helper.on_message(bytes(message(p.c_str())), kT0, error) == HelperVerdict::Added;
    }
    BOOST_TEST(added == 50u);  // the burst; then 5 a second
    std::string p = "198.19.250.0/24";
    BOOST_TEST(
        (helper.on_message(bytes(message(p.c_str())), kT0 + 1, error) == HelperVerdict::Added));
}

BOOST_AUTO_TEST_CASE(the_ban_helper_hands_prefix_messages_over_and_reconciles_the_table) {
    RecordingSink addresses, networks;
    BanHelper helper(addresses, HelperSettings{});
    std::string error;
    // Without prefix bans a prefix message is malformed.
    BOOST_TEST((helper.on_message(bytes(message("198.18.5.0/24")), kT0, error) ==
                HelperVerdict::Malformed));
    SharedRegion region(PrefixTable::region_size(64));
    PrefixTable table = PrefixTable::attach(region.base(), region.size(), 64).first;
    PrefixBanHelper prefixes(networks, settings(), &table);
    helper.set_prefixes(&prefixes);
    BOOST_TEST(
        (helper.on_message(bytes(message("198.18.5.0/24")), kT0, error) == HelperVerdict::Added));
    BOOST_TEST(networks.added.size() == 1u);
    BOOST_TEST(addresses.added.empty());

    SharedRegion windows(WindowTable::region_size(64));
    WindowTable window = WindowTable::attach(windows.base(), windows.size(), 64).first;
    table.ban(cidr("2001:db8:7::/48"), kT0, kT0 + 300);
    table.ban(cidr("198.18.4.0/24"), kT0, kT0 + 300);  // protected: never added
    table.ban(cidr("198.18.6.0/24"), kT0, kT0 + 300, BanScope::HttpdOnly);
    auto done = helper.reconcile(window, kT0 + 1, error);
    BOOST_TEST(done.added == 1u);
    BOOST_REQUIRE(networks.added.size() == 2u);
    BOOST_TEST(networks.added[1].key.to_string() == "2001:db8:7::");
    BOOST_TEST(networks.added[1].seconds == 299u);
    BOOST_TEST(helper.reconcile(window, kT0 + 2, error).added == 0u);  // held already
    BOOST_TEST(prefixes.withdraw(cidr("2001:db8:7::/48"), error));
    BOOST_TEST(networks.removed.size() == 1u);
}
