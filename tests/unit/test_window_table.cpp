#define BOOST_TEST_MODULE window_table
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "test_window_table_support.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;
using xrg_test::SharedRegion;
using xrg_test::test_address;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;
constexpr std::uint32_t kLimit = WindowTable::kMaxRetryLimit;

struct Fixture {
    explicit Fixture(std::size_t capacity)
        : region(WindowTable::region_size(capacity)),
          table(WindowTable::attach(region.base(), region.size(), capacity).first) {}
    SharedRegion region;
    WindowTable table;
};

std::map<Address, EntryView, bool (*)(const Address&, const Address&)> listing(
    const WindowTable& table, std::int64_t now, std::uint32_t findtime) {
    std::map<Address, EntryView, bool (*)(const Address&, const Address&)> out(
        [](const Address& a, const Address& b) { return a.bytes < b.bytes; });
    table.for_each(now, findtime, [&](const EntryView& view) { out.emplace(view.address, view); });
    return out;
}

// The reference: every offence time of every address, and its ban.
struct ModelEntry {
    std::vector<std::int64_t> times;
    std::int64_t ban_until = 0;
    std::int64_t banned_since = 0;
    std::uint32_t times_banned = 0;
    std::int64_t last_offence = 0;
    BanReason reason = BanReason::None;

    std::uint32_t in_window(std::int64_t now, std::uint32_t findtime) const {
        return static_cast<std::uint32_t>(std::count_if(
            times.begin(), times.end(), [&](std::int64_t t) { return t > now - findtime; }));
    }
};

void run_model_sequence(std::uint32_t seed, int steps) {
    Fixture f(4096);
    std::map<std::size_t, ModelEntry> model;
    std::mt19937 rng(seed);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    constexpr int kAddresses = 48;
    std::int64_t clock = kT0;
    int reached_count = 0;
    int banned_true = 0;

    for (int step = 0; step < steps; ++step) {
        int dt = pick(0, 99);
        clock += dt < 50 ? 0 : dt < 90 ? pick(1, 20) : dt < 99 ? pick(20, 900) : 4000;
        // Processes read the clock before they take the lock: times may arrive out of order.
        std::int64_t now = clock - pick(0, 2);
        std::size_t n = static_cast<std::size_t>(pick(0, kAddresses - 1));
        Address address = test_address(static_cast<std::uint32_t>(n));
        int op = pick(0, 99);
        std::string where = "seed " + std::to_string(seed) + " step " + std::to_string(step);

        if (op < 55) {
            int size = pick(0, 99);
            std::uint32_t count = size < 80 ? 1 : size < 95 ? pick(2, 30) : 500;
            WindowRule rule{static_cast<std::uint32_t>(std::array{30, 600, 3600}[pick(0, 2)]),
                            static_cast<std::uint32_t>(pick(1, kLimit))};
            ModelEntry& m = model[n];
            std::uint32_t earlier = m.in_window(now, rule.findtime);
            RecordOutcome got = f.table.record(address, now, count, rule);
            BOOST_TEST_REQUIRE(!got.refused, where);
            BOOST_TEST_REQUIRE(got.in_window == std::min(earlier, kLimit) + count, where);
            BOOST_TEST_REQUIRE(got.reached == (earlier + count >= rule.maxretry), where);
            reached_count += got.reached ? 1 : 0;
            m.times.insert(m.times.end(), count, now);
            m.last_offence = std::max(m.last_offence, now);
            std::erase_if(m.times, [&](std::int64_t t) { return t < clock - 10'000; });
        } else if (op < 70) {
            std::int64_t until = now + pick(-5, 5000);
            auto reason = static_cast<BanReason>(pick(1, 4));
            bool expected = false;
            if (until > now) {
                ModelEntry& m = model[n];
                if (m.ban_until <= now) {
                    expected = true;
                    m.ban_until = until;
                    m.banned_since = now;
                    m.reason = reason;
                    ++m.times_banned;
                    m.times.clear();
                } else {
                    m.ban_until = std::max(m.ban_until, until);
                }
            }
            BOOST_TEST_REQUIRE(f.table.ban(address, now, until, reason) == expected, where);
        } else if (op < 75) {
            bool expected = false;
            if (auto it = model.find(n); it != model.end()) {
                expected = it->second.ban_until > now;
                it->second.ban_until = 0;
                it->second.times.clear();
            }
            BOOST_TEST_REQUIRE(f.table.unban(address, now) == expected, where);
        } else {
            auto it = model.find(n);
            bool expected = it != model.end() && it->second.ban_until > now;
            banned_true += expected ? 1 : 0;
            BOOST_TEST_REQUIRE(f.table.banned(address, now) == expected, where);
        }

        if (step % 997 == 0) {
            std::uint32_t findtime = std::array{30u, 600u, 3600u}[pick(0, 2)];
            auto views = listing(f.table, clock, findtime);
            BOOST_TEST_REQUIRE(views.size() == model.size(), where);
            for (const auto& [index, m] : model) {
                const EntryView& view = views.at(test_address(static_cast<std::uint32_t>(index)));
                BOOST_TEST_REQUIRE(view.in_window == std::min(m.in_window(clock, findtime), kLimit),
                                   where);
                BOOST_TEST_REQUIRE(view.times_banned == m.times_banned, where);
                BOOST_TEST_REQUIRE(view.last_offence == m.last_offence, where);
                bool banned = m.ban_until > clock;
                BOOST_TEST_REQUIRE(view.banned_until == (banned ? m.ban_until : 0), where);
                BOOST_TEST_REQUIRE(view.banned_since == (banned ? m.banned_since : 0), where);
                BOOST_TEST_REQUIRE((view.reason == (banned ? m.reason : BanReason::None)), where);
            }
        }
    }
    BOOST_TEST(f.table.audit() == "");
    BOOST_TEST(f.table.stats(clock).evictions == 0u);  // the model does not evict
    // The sequence exercised both answers of both questions.
    BOOST_TEST(reached_count > steps / 100);
    BOOST_TEST(banned_true > steps / 100);
}

}  // namespace

BOOST_AUTO_TEST_CASE(entry_is_128_bytes_and_the_default_region_size_is_stable) {
    BOOST_TEST(WindowTable::kEntryBytes == 128u);
    BOOST_TEST(WindowTable::kMaxRetryLimit >= 16u);
    std::size_t bytes = WindowTable::region_size(65536);
    BOOST_TEST_MESSAGE("region_size(65536) = " << bytes);
    BOOST_TEST(bytes >= 65536u * 128u);
    BOOST_TEST(bytes <= 65536u * 128u + 128u * 1024u);
}

BOOST_AUTO_TEST_CASE(same_answers_as_a_reference_model) {
    for (std::uint32_t seed : {1u, 2u, 3u, 17u, 4242u}) {
        run_model_sequence(seed, 30'000);
    }
}

BOOST_AUTO_TEST_CASE(one_call_with_many_offences_reaches_at_once) {
    Fixture f(64);
    Address a = test_address(1);
    RecordOutcome first = f.table.record(a, kT0, 500, {3600, 3});
    BOOST_TEST(first.reached);
    BOOST_TEST(first.in_window == 500u);
    RecordOutcome second = f.table.record(a, kT0 + 1, 1, {3600, 3});
    BOOST_TEST(second.in_window == kLimit + 1);  // the earlier 500 count as the limit
    BOOST_TEST(second.reached);
}

BOOST_AUTO_TEST_CASE(window_slides_exactly_at_findtime) {
    Fixture f(64);
    Address a = test_address(2);
    WindowRule rule{60, 3};
    BOOST_TEST(!f.table.record(a, kT0, 1, rule).reached);
    BOOST_TEST(!f.table.record(a, kT0 + 30, 1, rule).reached);
    // kT0 is 60 s old at kT0+60: outside "the last 60 seconds".
    RecordOutcome at_60 = f.table.record(a, kT0 + 60, 1, rule);
    BOOST_TEST(at_60.in_window == 2u);
    BOOST_TEST(!at_60.reached);
    BOOST_TEST(f.table.record(a, kT0 + 61, 1, rule).reached);
}

BOOST_AUTO_TEST_CASE(ban_reports_a_new_ban_once_and_extends) {
    Fixture f(64);
    Address a = test_address(3);
    BOOST_TEST(!f.table.banned(a, kT0));
    BOOST_TEST(f.table.ban(a, kT0, kT0 + 100, BanReason::AuthFailure));
    BOOST_TEST(!f.table.ban(a, kT0 + 1, kT0 + 50, BanReason::AuthFailure));
    BOOST_TEST(!f.table.ban(a, kT0 + 2, kT0 + 200, BanReason::AuthFailure));
    BOOST_TEST(f.table.banned(a, kT0 + 199));
    BOOST_TEST(!f.table.banned(a, kT0 + 200));
    BOOST_TEST(f.table.ban(a, kT0 + 300, kT0 + 400, BanReason::LoginFailure));
    auto views = listing(f.table, kT0 + 301, 3600);
    BOOST_TEST(views.at(a).times_banned == 2u);
    BOOST_TEST((views.at(a).reason == BanReason::LoginFailure));
    BOOST_TEST(f.table.unban(a, kT0 + 301));
    BOOST_TEST(!f.table.banned(a, kT0 + 301));
    BOOST_TEST(!f.table.unban(a, kT0 + 302));
    BOOST_TEST(!f.table.unban(test_address(4), kT0));
    BOOST_TEST(std::string(to_string(BanReason::PingbackError)) == "pingback_error");
}

BOOST_AUTO_TEST_CASE(full_bucket_evicts_the_least_recently_offending_unbanned) {
    Fixture f(8);  // one bucket of eight
    BOOST_TEST(f.table.capacity() == 8u);
    for (std::uint32_t i = 0; i < 8; ++i) {
        f.table.record(test_address(i), kT0 + 10 - i, 1, {3600, 5});
    }
    f.table.ban(test_address(7), kT0 + 20, kT0 + 1000, BanReason::Manual);  // the oldest offender
    BOOST_TEST(!f.table.record(test_address(100), kT0 + 30, 1, {3600, 5}).refused);
    auto views = listing(f.table, kT0 + 30, 3600);
    BOOST_TEST(views.size() == 8u);
    BOOST_TEST(views.count(test_address(7)) == 1u);  // banned: kept
    BOOST_TEST(views.count(test_address(6)) == 0u);  // least recent unbanned: evicted
    BOOST_TEST(views.count(test_address(100)) == 1u);
    BOOST_TEST(f.table.stats(kT0 + 30).evictions == 1u);
}

BOOST_AUTO_TEST_CASE(bucket_of_bans_refuses_records_and_expired_bans_make_room) {
    Fixture f(8);
    for (std::uint32_t i = 0; i < 8; ++i) {
        BOOST_TEST(f.table.ban(test_address(i), kT0, kT0 + 100 + i, BanReason::Manual));
    }
    RecordOutcome refused = f.table.record(test_address(50), kT0 + 1, 9, {3600, 3});
    BOOST_TEST(refused.refused);
    BOOST_TEST(!refused.reached);
    BOOST_TEST(!f.table.ban(test_address(51), kT0 + 1, kT0 + 9, BanReason::Manual));
    BOOST_TEST(f.table.stats(kT0 + 1).refused_full == 2u);
    for (std::uint32_t i = 0; i < 8; ++i) {
        BOOST_TEST(f.table.banned(test_address(i), kT0 + 1));
    }
    // test_address(0)'s ban has expired at kT0 + 100: it is the one that goes.
    BOOST_TEST(!f.table.record(test_address(50), kT0 + 100, 1, {3600, 3}).refused);
    BOOST_TEST(!f.table.banned(test_address(0), kT0 + 100));
    for (std::uint32_t i = 1; i < 8; ++i) {
        BOOST_TEST(f.table.banned(test_address(i), kT0 + 100));
    }
}

BOOST_AUTO_TEST_CASE(flood_of_ten_times_capacity_keeps_every_active_ban) {
    constexpr std::size_t kCapacity = 1024;
    Fixture f(kCapacity);
    std::vector<Address> bans;
    for (std::uint32_t i = 0; i < 400; ++i) {
        if (f.table.ban(test_address(i), kT0, kT0 + 86400, BanReason::AuthFailure)) {
            bans.push_back(test_address(i));
        }
    }
    BOOST_TEST(bans.size() >= 390u);  // a bucket may fill with bans; the rest were refused
    for (std::uint32_t i = 0; i < 10 * kCapacity; ++i) {
        f.table.record(test_address(1000 + i), kT0 + 1 + i / 100, 1, {3600, 3});
    }
    for (const Address& a : bans) {
        BOOST_TEST_REQUIRE(f.table.banned(a, kT0 + 200), a.to_string());
    }
    TableStats stats = f.table.stats(kT0 + 200);
    BOOST_TEST(stats.banned == bans.size());
    BOOST_TEST(stats.used == kCapacity);
    BOOST_TEST(stats.evictions > 8 * kCapacity);
    BOOST_TEST(f.table.audit() == "");
}

BOOST_AUTO_TEST_CASE(attach_keeps_a_matching_region_and_reformats_a_mismatched_one) {
    constexpr std::size_t kCapacity = 64;
    SharedRegion region(WindowTable::region_size(256));
    auto [table, how] = WindowTable::attach(region.base(), region.size(), kCapacity);
    BOOST_TEST((how == WindowTable::Attach::Initialised));
    table.ban(test_address(1), kT0, kT0 + 100, BanReason::Manual);

    auto [again, how_again] = WindowTable::attach(region.base(), region.size(), kCapacity);
    BOOST_TEST((how_again == WindowTable::Attach::Reused));
    BOOST_TEST(again.banned(test_address(1), kT0));

    auto* bytes = region.as<unsigned char>();
    auto reformatted = [&](std::size_t offset, std::size_t capacity) {
        unsigned char saved = bytes[offset];
        bytes[offset] ^= 0x5a;
        auto [t, h] = WindowTable::attach(region.base(), region.size(), capacity);
        bool fresh = h == WindowTable::Attach::Initialised && !t.banned(test_address(1), kT0) &&
                     t.stats(kT0).used == 0;
        bytes[offset] = saved;
        return fresh;
    };
    BOOST_TEST(reformatted(0, kCapacity));   // magic
    BOOST_TEST(reformatted(8, kCapacity));   // layout version
    BOOST_TEST(reformatted(12, kCapacity));  // entry size
    BOOST_TEST(reformatted(48, kCapacity));  // region size
    // A different capacity on a formatted region: formatted anew.
    auto [other, how_other] = WindowTable::attach(region.base(), region.size(), 256);
    BOOST_TEST((how_other == WindowTable::Attach::Initialised));
    BOOST_TEST(other.capacity() == 256u);
    BOOST_CHECK_THROW(WindowTable::attach(region.base(), 100, kCapacity), std::invalid_argument);
    BOOST_CHECK_THROW(WindowTable::attach(region.as<char>() + 8, region.size() - 64, kCapacity),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(open_reads_a_formatted_region_refuses_garbage_and_never_writes) {
    SharedRegion region(WindowTable::region_size(64));
    auto* bytes = region.as<unsigned char>();
    std::mt19937 rng(7);
    for (std::size_t i = 0; i < region.size(); ++i) {
        bytes[i] = static_cast<unsigned char>(rng());
    }
    std::vector<unsigned char> before(bytes, bytes + region.size());
    BOOST_TEST(!WindowTable::open(region.base(), region.size()));
    std::memset(bytes, 0, region.size());
    BOOST_TEST(!WindowTable::open(region.base(), region.size()));

    auto [table, how] = WindowTable::attach(region.base(), region.size(), 64);
    table.ban(test_address(9), kT0, kT0 + 100, BanReason::Manual);
    before.assign(bytes, bytes + region.size());
    auto opened = WindowTable::open(region.base(), region.size());
    BOOST_REQUIRE(opened);
    BOOST_TEST(opened->banned(test_address(9), kT0));
    BOOST_TEST(opened->capacity() == 64u);
    BOOST_TEST(std::equal(before.begin(), before.end(), bytes));
    BOOST_TEST(!WindowTable::open(region.base(), WindowTable::region_size(64) - 1));
    BOOST_TEST(!WindowTable::open(nullptr, region.size()));
}

BOOST_AUTO_TEST_CASE(copy_from_carries_counts_and_bans_into_a_resized_table) {
    Fixture small(64);
    for (std::uint32_t i = 0; i < 40; ++i) {
        small.table.record(test_address(i), kT0 + i, i % 5 + 1, {3600, 30});
    }
    for (std::uint32_t i = 0; i < 40; i += 4) {
        small.table.ban(test_address(i), kT0 + 50, kT0 + 5000, BanReason::PingbackError);
    }
    small.table.record(test_address(1), kT0 + 60, 2, {3600, 30});
    Fixture large(1000);
    large.table.copy_from(small.table, kT0 + 60);
    auto want = listing(small.table, kT0 + 60, 3600);
    auto got = listing(large.table, kT0 + 60, 3600);
    BOOST_TEST(got.size() == want.size());
    for (const auto& [address, view] : want) {
        BOOST_REQUIRE(got.count(address));
        const EntryView& copy = got.at(address);
        BOOST_TEST(copy.in_window == view.in_window);
        BOOST_TEST(copy.banned_until == view.banned_until);
        BOOST_TEST(copy.times_banned == view.times_banned);
        BOOST_TEST(copy.offences == view.offences);
        BOOST_TEST(large.table.banned(address, kT0 + 60) == small.table.banned(address, kT0 + 60));
    }
    BOOST_TEST(large.table.audit() == "");
    BOOST_TEST(large.table.record(test_address(1), kT0 + 61, 1, {3600, 3}).in_window ==
               want.at(test_address(1)).in_window + 1);
}
