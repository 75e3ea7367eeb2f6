// The shared table as a hostile process would leave it: any process that maps the
// region (httpd's children, and so PHP's user on Debian) can write any byte of it.
// Whatever it writes, a handle (the helper's, a child's) must not crash, read or
// write outside the region (the sanitizer build checks that), stall for good, or get
// a ban into the kernel that the helper's rules refuse.
#define BOOST_TEST_MODULE hostile_region
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <random>
#include <string>

#include "test_window_table_support.hpp"
#include "window_table_layout.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;
namespace layout = xmlrpcguard::window_table_layout;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;
constexpr std::size_t kCapacity = 512;
constexpr WindowRule kRule{3600, 3};

HelperSettings strict_settings() {
    HelperSettings settings;
    settings.never_ban.add(*Cidr::parse("198.18.0.0/24"));
    settings.never_ban.add(*Cidr::parse("2001:db8:ffff::/48"));
    settings.bans_per_second = 5;
    settings.burst = 10;
    return settings;
}

// Where the stripes' mutexes lie: scribbling them is tried apart (a lock on garbage
// waits out its bound, which would make every round slow).
bool inside_a_mutex(std::size_t offset, std::size_t first, std::size_t stripes) {
    if (offset < first || offset >= first + stripes * sizeof(layout::Stripe)) {
        return false;
    }
    return (offset - first) % sizeof(layout::Stripe) < sizeof(pthread_mutex_t);
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_bytes_anywhere_never_crash_a_handle_nor_pass_the_helpers_rules) {
    xrg_test::SharedRegion region(WindowTable::region_size(kCapacity));
    auto [table, attached] = WindowTable::attach(region.base(), region.size(), kCapacity);
    BOOST_REQUIRE(attached == WindowTable::Attach::Initialised);
    // Where the stripes lie, as formatted (before any scribble).
    std::size_t stripes_offset = region.as<layout::RegionHeader>()->stripes_offset;
    std::size_t stripes = region.as<layout::RegionHeader>()->stripes;
    RecordingSink sink;
    BanHelper helper(sink, strict_settings());
    HelperSettings rules = strict_settings();
    std::mt19937_64 random(20261130);
    auto* bytes = region.as<unsigned char>();
    std::int64_t now = kT0;
    std::size_t listed = 0;
    for (int round = 0; round < 3000; ++round) {
        now += round % 10 == 0 ? 1 : 0;
        int scribbles = static_cast<int>(random() % 8);
        for (int i = 0; i < scribbles; ++i) {
            // Half of them in the header, where the geometry used to be read from.
            std::size_t offset =
                random() % 2 ? random() % sizeof(layout::RegionHeader) : random() % region.size();
            if (!inside_a_mutex(offset, stripes_offset, stripes)) {
                bytes[offset] = static_cast<unsigned char>(random());
            }
        }
        if (round % 500 == 250) {  // the whole header at once
            for (std::size_t i = 0; i < sizeof(layout::RegionHeader); ++i) {
                bytes[i] = static_cast<unsigned char>(random());
            }
        }
        Address someone = xrg_test::test_address(static_cast<std::uint32_t>(random() % 4096));
        table.record(someone, now, 1 + static_cast<std::uint32_t>(random() % 4), kRule);
        if (random() % 4 == 0) {
            table.ban(someone, now, now + 600, BanReason::AuthFailure);
        }
        (void)table.banned(someone, now);
        BOOST_TEST(table.stats(now).capacity == table.capacity());
        table.for_each(now, 3600, [&](const EntryView&) { ++listed; });
        (void)table.audit();  // reports what it finds; must not crash doing so
        if (auto opened = WindowTable::open(region.base(), region.size())) {
            (void)opened->banned(someone, now);
            (void)opened->stats(now);
        }
        std::string error;
        helper.reconcile(table, now, error);
    }
    BOOST_TEST(table.capacity() == layout::kBucketSize * ((kCapacity + 7) / 8));
    BOOST_TEST(listed > 0u);
    // Every kernel add passed the rules: no protected address, no prefix wider than
    // the floor, and no more than the rate ceiling allowed over the time that passed.
    BOOST_TEST(!sink.added.empty());
    auto allowed = rules.burst + rules.bans_per_second * static_cast<std::size_t>(now - kT0 + 1);
    BOOST_TEST(sink.added.size() <= allowed);
    for (const BanRequest& request : sink.added) {
        BOOST_TEST(!rules.never_ban.contains(request.key), request.key.to_string());
        BOOST_TEST(
            (request.key.is_ipv4() ? request.prefix == 32 : request.prefix >= kMinIPv6BanPrefix),
            request.key.to_string());
    }
}

BOOST_AUTO_TEST_CASE(a_scribbled_stripe_lock_is_waited_for_at_most_its_bound) {
    xrg_test::SharedRegion region(WindowTable::region_size(kCapacity));
    auto [table, attached] = WindowTable::attach(region.base(), region.size(), kCapacity);
    (void)attached;
    auto* header = region.as<layout::RegionHeader>();
    auto* bytes = region.as<unsigned char>();
    // Every stripe's lock word names an owner that does not exist and never unlocks.
    for (std::size_t s = 0; s < header->stripes; ++s) {
        std::uint32_t ghost = 0x3FFFFFFF;
        std::memcpy(bytes + header->stripes_offset + s * sizeof(layout::Stripe), &ghost,
                    sizeof ghost);
    }
    Address someone = xrg_test::test_address(7);
    RecordOutcome outcome = table.record(someone, kT0, 1, kRule);  // returns: it does not hang
    BOOST_TEST(outcome.refused);
    BOOST_TEST(!table.ban(someone, kT0, kT0 + 60, BanReason::Manual));
    BOOST_TEST(!table.banned(someone, kT0));  // lock-free: no wait at all
}
