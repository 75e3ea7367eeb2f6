// Repeat offenders: the ban-length formula, and a table that keeps their counts.
#define BOOST_TEST_MODULE ban_time
#include <boost/test/unit_test.hpp>

#include "test_window_table_support.hpp"
#include "xmlrpcguard/ban_time.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;
using xrg_test::SharedRegion;
using xrg_test::test_address;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;

BanTimePolicy incrementing(std::uint32_t bantime, double factor, std::uint32_t max) {
    BanTimePolicy policy;
    policy.bantime = bantime;
    policy.increment = true;
    policy.factor = factor;
    policy.max = max;
    return policy;
}

}  // namespace

BOOST_AUTO_TEST_CASE(without_the_increment_every_ban_lasts_bantime) {
    BanTimePolicy policy;
    policy.bantime = 600;
    for (std::uint32_t nth : {0u, 1u, 2u, 9u, 1000u}) {
        BOOST_TEST(ban_length(policy, nth) == 600u);
    }
}

BOOST_AUTO_TEST_CASE(ban_n_lasts_bantime_times_factor_to_the_n_minus_one) {
    auto policy = incrementing(3600, 2, 604800);
    BOOST_TEST(ban_length(policy, 1) == 3600u);
    BOOST_TEST(ban_length(policy, 2) == 7200u);
    BOOST_TEST(ban_length(policy, 3) == 14400u);
    BOOST_TEST(ban_length(policy, 4) == 28800u);
    auto slow = incrementing(1000, 1.5, 604800);
    BOOST_TEST(ban_length(slow, 2) == 1500u);
    BOOST_TEST(ban_length(slow, 3) == 2250u);
}

BOOST_AUTO_TEST_CASE(the_maximum_caps_growth_but_never_shortens_the_first_ban) {
    auto policy = incrementing(86400, 2, 604800);
    BOOST_TEST(ban_length(policy, 3) == 345600u);
    BOOST_TEST(ban_length(policy, 4) == 604800u);           // 691200 capped
    BOOST_TEST(ban_length(policy, UINT32_MAX) == 604800u);  // no overflow on the way
    auto small_max = incrementing(3600, 2, 60);
    BOOST_TEST(ban_length(small_max, 1) == 3600u);
    BOOST_TEST(ban_length(small_max, 5) == 3600u);
    auto huge = incrementing(86400, 1000, UINT32_MAX);
    BOOST_TEST(ban_length(huge, 50) == kMaxBanSeconds);
}

BOOST_AUTO_TEST_CASE(the_jitter_adds_at_most_its_value_after_the_cap) {
    auto policy = incrementing(100, 2, 300);
    policy.jitter = 10;
    BOOST_TEST(ban_length(policy, 1, 0) == 100u);
    BOOST_TEST(ban_length(policy, 1, 10) == 110u);
    BOOST_TEST(ban_length(policy, 1, 11) == 100u);  // random % (jitter + 1)
    BOOST_TEST(ban_length(policy, 9, 7) == 307u);
    std::uint32_t lowest = UINT32_MAX, highest = 0;
    for (std::uint32_t random = 0; random < 1000; ++random) {
        std::uint32_t length = ban_length(policy, 2, random * 2654435761u);
        lowest = std::min(lowest, length);
        highest = std::max(highest, length);
    }
    BOOST_TEST(lowest == 200u);
    BOOST_TEST(highest == 210u);
    policy.jitter = 0;
    BOOST_TEST(ban_length(policy, 2, 12345) == 200u);
}

// One bucket of eight: an address banned before outlives the one-time offenders
// around it, though its last offence is the oldest of all.
BOOST_AUTO_TEST_CASE(eviction_keeps_addresses_that_were_banned_before) {
    SharedRegion region(WindowTable::region_size(8));
    auto table = WindowTable::attach(region.base(), region.size(), 8).first;
    BOOST_REQUIRE(table.capacity() == 8u);
    WindowRule rule{3600, 3};
    Address repeat = test_address(1);
    table.record(repeat, kT0, 3, rule);
    BOOST_REQUIRE(table.ban(repeat, kT0, kT0 + 10, BanReason::AuthFailure));
    for (unsigned i = 2; i <= 8; ++i) {
        table.record(test_address(i), kT0 + i, 1, rule);
    }
    std::int64_t later = kT0 + 100;  // the ban is over: every entry may be evicted
    for (unsigned i = 9; i <= 20; ++i) {
        table.record(test_address(i), later + i, 1, rule);
        BOOST_TEST(table.times_banned(repeat) == 1u, "lost the count at newcomer " << i);
    }
    BOOST_TEST(table.times_banned(test_address(2)) == 0u);
    BOOST_TEST(table.audit() == "");
    // Among banned-before entries, the one whose last activity is oldest goes first.
    for (unsigned i = 21; i <= 28; ++i) {
        table.record(test_address(i), later + i, 3, rule);
        table.ban(test_address(i), later + i, later + i + 1, BanReason::AuthFailure);
    }
    BOOST_TEST(table.times_banned(repeat) == 0u);  // its ban ended first, at kT0 + 10
    BOOST_TEST(table.times_banned(test_address(28)) == 1u);
}

BOOST_AUTO_TEST_CASE(times_banned_counts_each_new_ban_and_survives_its_end) {
    SharedRegion region(WindowTable::region_size(64));
    auto table = WindowTable::attach(region.base(), region.size(), 64).first;
    Address a = test_address(7);
    BOOST_TEST(table.times_banned(a) == 0u);
    table.ban(a, kT0, kT0 + 60, BanReason::LoginFailure);
    table.ban(a, kT0 + 1, kT0 + 120, BanReason::LoginFailure);  // an extension, not a new ban
    BOOST_TEST(table.times_banned(a) == 1u);
    table.ban(a, kT0 + 200, kT0 + 300, BanReason::LoginFailure);
    BOOST_TEST(table.times_banned(a) == 2u);
    table.unban(a, kT0 + 201);
    BOOST_TEST(table.times_banned(a) == 2u);
}
