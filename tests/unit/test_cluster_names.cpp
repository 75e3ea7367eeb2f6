#define BOOST_TEST_MODULE cluster_names
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "cluster_link.hpp"
#include "cluster_node.hpp"
#include "fleet_names.hpp"
#include "helper_loop.hpp"
#include "quiet_events.hpp"
#include "user_table_access.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/ban_sink.hpp"
#include "xmlrpcguard/guard_counters.hpp"
#include "xmlrpcguard/name_report.hpp"
#include "xmlrpcguard/user_table.hpp"

using namespace xmlrpcguard;

namespace xmlrpcguard {
std::ostream& boost_test_print_type(std::ostream& out, const NameFailureReport& report) {
    return out << unsigned(report.vhost_slot) << ":" << report.folded;
}
}  // namespace xmlrpcguard

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;
constexpr std::uint64_t kVhost = 0x1234567890abcdefULL;
const UserRule kRule{600, 3, 900};

NameFailureReport sample(std::string folded = "admin", std::uint64_t local = 0x55) {
    NameFailureReport report;
    report.vhost_slot = 0;
    report.vhost_id = kVhost;
    report.local_hash = local;
    report.rule = kRule;
    report.folded = std::move(folded);
    return report;
}

std::span<const std::byte> bytes_of(const NameMessage& message) {
    return {message.data(), message.size()};
}

// A user table in private memory with the vhost's slot claimed, as a child would.
struct Table {
    Table() {
        std::size_t bytes = UserTable::region_size(1024);
        memory.reset(static_cast<unsigned char*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
        std::memset(memory.get(), 0, bytes);  // not another case's table, reused
        table.emplace(UserTable::attach(memory.get(), bytes, 1024).first);
        slot = *table->vhost_slot(kVhost);
    }
    struct Free {
        void operator()(unsigned char* p) const { std::free(p); }
    };
    std::unique_ptr<unsigned char, Free> memory;
    std::optional<UserTable> table;
    std::size_t slot = 0;
};

FleetNameSettings settings(std::uint32_t locks_burst = 1000) {
    FleetNameSettings out;
    out.key = fleet_name_key(std::string(40, 'k'));
    out.rules = {kRule};
    out.locks_per_second = 1;
    out.locks_burst = locks_burst;
    out.reports_per_second = 1;
    out.reports_burst = 5;
    return out;
}

// A failure of the name reported by a child and accepted by the helper.
NameFailure seen(FleetNames& names, std::string name, std::uint64_t local) {
    NameFailure out;
    BOOST_REQUIRE((names.admit(bytes_of(encode(sample(std::move(name), local))), kT0, out) ==
                   ReportVerdict::Accepted));
    return out;
}

ClusterEntry lock_entry(std::uint64_t fleet, std::int64_t until) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(fleet));
    ClusterEntry entry;
    entry.id = "1-0";
    entry.fields = {
        {"op", "lock"}, {"node", "other-1"}, {"name", hex}, {"until", std::to_string(until)}};
    return entry;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_name_report_round_trips) {
    for (std::string name : {std::string("a"), std::string("admin"), std::string(129, 'x'),
                             std::string(kOverlongFold)}) {
        NameFailureReport report = sample(name);
        auto decoded = decode_name_failure(bytes_of(encode(report)));
        BOOST_REQUIRE(decoded);
        BOOST_TEST(*decoded == report);
        BOOST_TEST(looks_like_name_failure(bytes_of(encode(report))));
    }
}

BOOST_AUTO_TEST_CASE(malformed_name_reports_are_refused) {
    NameMessage good = encode(sample());
    auto refused = [](NameMessage message) { return !decode_name_failure(bytes_of(message)); };
    BOOST_TEST(!decode_name_failure(std::span(good.data(), good.size() - 1)));
    NameMessage m = good;
    m[3] = std::byte{'O'};  // another message's magic
    BOOST_TEST(refused(m));
    m = good;
    m[4] = std::byte{2};  // version
    BOOST_TEST(refused(m));
    m = good;
    m[5] = std::byte{64};  // slot past UserTable::kVhosts
    BOOST_TEST(refused(m));
    for (int maxretry : {0, 16}) {
        m = good;
        m[6] = std::byte(maxretry);
        BOOST_TEST(refused(m));
    }
    for (int length : {0, 130, 255}) {
        m = good;
        m[7] = std::byte(length);
        BOOST_TEST(refused(m));
    }
    m = good;
    m[175] = std::byte{1};  // a byte past the name
    BOOST_TEST(refused(m));
    NameFailureReport zero = sample();
    zero.rule.findtime = 0;
    BOOST_TEST(refused(encode(zero)));
    zero = sample();
    zero.rule.locktime = kMaxUserSeconds + 1;
    BOOST_TEST(refused(encode(zero)));
    zero = sample();
    zero.local_hash = 0;
    BOOST_TEST(refused(encode(zero)));
    zero = sample();
    zero.vhost_id = 0;
    BOOST_TEST(refused(encode(zero)));
}

BOOST_AUTO_TEST_CASE(the_fleet_hash_depends_on_secret_vhost_and_name) {
    NameKey a = fleet_name_key(std::string(32, 'a'));
    BOOST_TEST((a == fleet_name_key(std::string(32, 'a'))));  // every node derives the same
    BOOST_TEST((a != fleet_name_key(std::string(31, 'a') + "b")));
    BOOST_TEST(a[0] != a[1]);
    std::uint64_t h = fleet_name_hash(a, kVhost, "admin");
    BOOST_TEST(h == fleet_name_hash(a, kVhost, "admin"));
    BOOST_TEST(h != fleet_name_hash(a, kVhost + 1, "admin"));
    BOOST_TEST(h != fleet_name_hash(a, kVhost, "admin2"));
    BOOST_TEST(h != fleet_name_hash(fleet_name_key(std::string(32, 'b')), kVhost, "admin"));
}

BOOST_AUTO_TEST_CASE(an_imposed_lock_locks_keeps_a_longer_one_and_never_trust) {
    Table t;
    UserTable& table = *t.table;
    BOOST_TEST(!table.any_lock(t.slot, kT0));
    auto owner = *Address::parse("198.18.7.1");
    table.trust(t.slot, 0x77, owner, kT0, kT0 + 86400);
    BOOST_TEST(table.impose_lock(t.slot, 0x77, kT0, kT0 + 900));
    BOOST_TEST(table.locked(t.slot, 0x77, kT0 + 899));
    BOOST_TEST(!table.locked(t.slot, 0x77, kT0 + 900));
    BOOST_TEST(table.any_lock(t.slot, kT0 + 1));              // the horizon tells the request path
    BOOST_TEST(table.trusted(t.slot, 0x77, owner, kT0 + 1));  // the owner keeps working
    BOOST_TEST(table.impose_lock(t.slot, 0x77, kT0, kT0 + 100));
    BOOST_TEST(table.locked(t.slot, 0x77, kT0 + 899));  // a shorter one does not shorten it
    BOOST_TEST(table.stats().locks == 1u);
}

BOOST_AUTO_TEST_CASE(reports_must_name_a_claimed_vhost_and_a_configured_rule) {
    Table t;
    FleetNames names(*t.table, settings());
    NameFailure out;
    NameFailureReport wrong_vhost = sample();
    wrong_vhost.vhost_id = kVhost + 1;  // the slot holds another vhost
    BOOST_TEST((names.admit(bytes_of(encode(wrong_vhost)), kT0, out) == ReportVerdict::Malformed));
    NameFailureReport free_slot = sample();
    free_slot.vhost_slot = 5;  // never claimed: a report cannot claim one
    BOOST_TEST((names.admit(bytes_of(encode(free_slot)), kT0, out) == ReportVerdict::Malformed));
    BOOST_TEST(!t.table->vhost_id(5));
    NameFailureReport other_rule = sample();
    other_rule.rule.maxretry = 1;  // PHP asking for a lock at the first failure
    BOOST_TEST((names.admit(bytes_of(encode(other_rule)), kT0, out) == ReportVerdict::UnknownRule));
    BOOST_TEST((names.admit(bytes_of(encode(sample())), kT0, out) == ReportVerdict::Accepted));
    BOOST_TEST(out.fleet == fleet_name_hash(settings().key, kVhost, "admin"));
    BOOST_TEST(out.rule.maxretry == kRule.maxretry);
    BOOST_TEST(names.known() == 1u);
}

BOOST_AUTO_TEST_CASE(a_flood_of_reports_is_bounded_by_its_ceiling) {
    Table t;
    FleetNames names(*t.table, settings());
    NameFailure out;
    int accepted = 0, over = 0;
    for (int i = 0; i < 100; ++i) {
        auto verdict =
            names.admit(bytes_of(encode(sample("n" + std::to_string(i), 100 + i))), kT0, out);
        accepted += verdict == ReportVerdict::Accepted;
        over += verdict == ReportVerdict::OverRate;
    }
    BOOST_TEST(accepted == 5);  // the burst
    BOOST_TEST(over == 95);
    BOOST_TEST((names.admit(bytes_of(encode(sample("late", 7))), kT0 + 1, out) ==
                ReportVerdict::Accepted));  // refilled
}

BOOST_AUTO_TEST_CASE(a_fleet_lock_reaches_the_nodes_own_record) {
    Table t;
    FleetNames names(*t.table, settings());
    NameFailure out = seen(names, "admin", 0x55);
    std::string why;
    BOOST_TEST(
        (names.apply(lock_entry(out.fleet, kT0 + 900), kT0, why) == ClusterOutcome::Applied));
    BOOST_TEST(t.table->locked(t.slot, 0x55, kT0 + 10));
    BOOST_TEST(!t.table->locked(t.slot, 0x56, kT0 + 10));
}

BOOST_AUTO_TEST_CASE(a_lock_of_a_name_not_seen_here_waits_for_its_first_failure) {
    Table t;
    FleetNames names(*t.table, settings());
    std::uint64_t fleet = fleet_name_hash(settings().key, kVhost, "victim");
    std::string why;
    BOOST_TEST((names.apply(lock_entry(fleet, kT0 + 900), kT0, why) == ClusterOutcome::Unchanged));
    BOOST_TEST(names.kept() == 1u);
    BOOST_TEST(!t.table->any_lock(t.slot, kT0));
    NameFailure out;
    BOOST_REQUIRE((names.admit(bytes_of(encode(sample("victim", 0x99))), kT0 + 5, out) ==
                   ReportVerdict::Accepted));
    BOOST_TEST(t.table->locked(t.slot, 0x99, kT0 + 6));
    BOOST_TEST(names.kept() == 0u);
}

BOOST_AUTO_TEST_CASE(forged_lock_entries_are_judged_and_bounded) {
    Table t;
    FleetNames names(*t.table, settings(3));
    std::string why;
    auto entry = lock_entry(1234, kT0 + 900);
    BOOST_TEST((names.apply(lock_entry(1234, kT0), kT0, why) == ClusterOutcome::Expired));
    // Longer than the lock time (900) by more than the clock slack (300).
    BOOST_TEST(
        (names.apply(lock_entry(1234, kT0 + 900 + 301), kT0, why) == ClusterOutcome::Malformed));
    for (auto [field, value] :
         std::vector<std::pair<std::string, std::string>>{{"name", "0000000000000000"},
                                                          {"name", "ABCDEF0123456789"},
                                                          {"name", "12"},
                                                          {"name", "zz00000000000000"},
                                                          {"until", "-5"},
                                                          {"until", "1e9"},
                                                          {"until", ""}}) {
        ClusterEntry bad = entry;
        for (auto& [k, v] : bad.fields) {
            if (k == field) {
                v = value;
            }
        }
        BOOST_TEST((names.apply(bad, kT0, why) == ClusterOutcome::Malformed),
                   field << "=" << value);
    }
    int over = 0;
    for (std::uint64_t i = 1; i <= 50; ++i) {
        over += names.apply(lock_entry(i, kT0 + 900), kT0, why) == ClusterOutcome::OverRate;
    }
    BOOST_TEST(over == 47);  // a burst of 3
    BOOST_TEST(names.kept() == 3u);
}

BOOST_AUTO_TEST_CASE(a_flood_of_forged_locks_cannot_hold_back_a_real_one) {
    Table t;
    FleetNames names(*t.table, settings(3));
    NameFailure out = seen(names, "admin", 0x55);
    std::string why;
    for (std::uint64_t i = 1; i <= 50; ++i) {
        names.apply(lock_entry(i, kT0 + 900), kT0, why);  // the ceiling spent
    }
    BOOST_TEST(
        (names.apply(lock_entry(out.fleet, kT0 + 900), kT0, why) == ClusterOutcome::Applied));
    BOOST_TEST(t.table->locked(t.slot, 0x55, kT0 + 10));
}

BOOST_AUTO_TEST_CASE(names_kept_for_later_are_bounded) {
    Table t;
    FleetNameSettings s = settings();
    s.kept_limit = 8;
    s.locks_burst = 100;
    FleetNames names(*t.table, s);
    std::string why;
    for (std::uint64_t i = 1; i <= 50; ++i) {
        names.apply(lock_entry(i, kT0 + 900), kT0, why);
    }
    BOOST_TEST(names.kept() <= 8u);
}

BOOST_AUTO_TEST_CASE(a_node_whose_clock_lags_redis_applies_the_lock_for_its_lock_time) {
    Table t;
    FleetNames names(*t.table, settings());
    NameFailure out = seen(names, "admin", 0x55);
    std::string why;
    // Redis's clock 120 s ahead of this node's: the end reads 1020 s away here.
    BOOST_TEST(
        (names.apply(lock_entry(out.fleet, kT0 + 900 + 120), kT0, why) == ClusterOutcome::Applied),
        why);
    BOOST_TEST(t.table->locked(t.slot, 0x55, kT0 + 899));
    BOOST_TEST(!t.table->locked(t.slot, 0x55, kT0 + 900));  // cut to the lock time here
    BOOST_TEST((names.apply(lock_entry(out.fleet, kT0 + 900 + 301), kT0, why) ==
                ClusterOutcome::Malformed));
}

BOOST_AUTO_TEST_CASE(a_fleet_lock_lasts_the_lock_time_of_the_names_vhost) {
    Table t;
    FleetNameSettings s = settings();
    const UserRule short_lock{600, 3, 300};
    s.rules = {kRule, short_lock};  // the node's longest lock time is kRule's 900
    FleetNames names(*t.table, s);
    NameFailureReport report = sample("admin", 0x55);
    report.rule = short_lock;
    NameFailure out;
    BOOST_REQUIRE((names.admit(bytes_of(encode(report)), kT0, out) == ReportVerdict::Accepted));
    std::string why;
    BOOST_TEST(
        (names.apply(lock_entry(out.fleet, kT0 + 900), kT0, why) == ClusterOutcome::Applied));
    BOOST_TEST(t.table->locked(t.slot, 0x55, kT0 + 299));
    BOOST_TEST(!t.table->locked(t.slot, 0x55, kT0 + 300));
    // Kept for a name not seen here, then written at its first failure: the same bound.
    std::uint64_t victim = fleet_name_hash(s.key, kVhost, "victim");
    BOOST_TEST((names.apply(lock_entry(victim, kT0 + 900), kT0, why) == ClusterOutcome::Unchanged));
    report = sample("victim", 0x99);
    report.rule = short_lock;
    BOOST_REQUIRE(
        (names.admit(bytes_of(encode(report)), kT0 + 10, out) == ReportVerdict::Accepted));
    BOOST_TEST(t.table->locked(t.slot, 0x99, kT0 + 309));
    BOOST_TEST(!t.table->locked(t.slot, 0x99, kT0 + 310));
}

BOOST_AUTO_TEST_CASE(a_held_stripe_never_stalls_the_helper_and_the_lock_is_written_later) {
    Table t;
    FleetNames names(*t.table, settings());
    NameFailure out = seen(names, "admin", 0x55);
    std::string why;
    {
        // PHP (www-data) can hold a stripe of the user table: the helper does not wait.
        UserTableTestAccess::HeldStripe held(*t.table, t.slot, 0x55);
        BOOST_REQUIRE(held.held());
        BOOST_TEST(
            (names.apply(lock_entry(out.fleet, kT0 + 900), kT0, why) == ClusterOutcome::Unchanged),
            why);
        BOOST_TEST(names.pending() == 1u);
        names.retry(kT0 + 1);  // still held: kept
        BOOST_TEST(names.pending() == 1u);
    }
    BOOST_TEST(!t.table->locked(t.slot, 0x55, kT0 + 1));
    names.retry(kT0 + 2);
    BOOST_TEST(names.pending() == 0u);
    BOOST_TEST(t.table->locked(t.slot, 0x55, kT0 + 3));
}

BOOST_AUTO_TEST_CASE(a_name_kept_again_keeps_its_lock_past_its_stale_place_in_the_order) {
    Table t;
    FleetNameSettings s = settings();
    s.kept_limit = 2;
    s.known_limit = 1;
    s.locks_burst = 100;
    s.reports_burst = 100;
    FleetNames names(*t.table, s);
    std::string why;
    std::uint64_t victim = fleet_name_hash(s.key, kVhost, "victim");
    NameFailure out;
    BOOST_TEST((names.apply(lock_entry(victim, kT0 + 900), kT0, why) == ClusterOutcome::Unchanged));
    BOOST_REQUIRE((names.admit(bytes_of(encode(sample("victim", 0x99))), kT0, out) ==
                   ReportVerdict::Accepted));  // written, and no longer kept
    BOOST_REQUIRE((names.admit(bytes_of(encode(sample("other", 0x98))), kT0, out) ==
                   ReportVerdict::Accepted));  // the victim forgotten (known_limit 1)
    // A second lock of the victim (say after its first ended) is kept again; a lock of a
    // third name then pushes the victim's first, stale place out of the order.
    BOOST_TEST((names.apply(lock_entry(victim, kT0 + 1900), kT0 + 1000, why) ==
                ClusterOutcome::Unchanged));
    BOOST_TEST(
        (names.apply(lock_entry(777, kT0 + 1900), kT0 + 1000, why) == ClusterOutcome::Unchanged));
    BOOST_TEST(names.kept() == 2u);
    BOOST_REQUIRE((names.admit(bytes_of(encode(sample("victim", 0x99))), kT0 + 1001, out) ==
                   ReportVerdict::Accepted));
    BOOST_TEST(t.table->locked(t.slot, 0x99, kT0 + 1002));
}

BOOST_AUTO_TEST_CASE(the_name_script_keeps_no_name_and_locks_past_maxretry) {
    std::string_view script = ClusterLink::name_script();
    BOOST_TEST(script.find("'op', 'lock'") != std::string_view::npos);
    BOOST_TEST(script.find("ZCARD', u) > maxretry") != std::string_view::npos);
    BOOST_TEST(script.find("ZREMRANGEBYRANK") != std::string_view::npos);  // bounded per name
    BOOST_TEST(script.find("'NX', 'EX'") != std::string_view::npos);       // one entry per while
}

// The attack through the real channel and loop: a socket pair, the helper's loop and a
// ClusterNode whose link has no Redis (what it accepts waits in its queue). PHP under
// mod_php holds the channel: its forged name reports are refused or over the ceiling,
// counted, and the ban messages between them are all obeyed in the same turns.
BOOST_AUTO_TEST_CASE(through_the_channel_forged_name_reports_are_bounded_and_bans_obeyed) {
    Table users;
    std::size_t bytes = WindowTable::region_size(1024);
    std::vector<std::byte> window_memory(bytes + 64);
    void* window_base = reinterpret_cast<void*>(
        (reinterpret_cast<std::uintptr_t>(window_memory.data()) + 63) & ~std::uintptr_t{63});
    WindowTable windows = WindowTable::attach(window_base, bytes, 1024).first;
    std::vector<std::byte> counter_memory(GuardCounters::region_size() + 64);
    void* aligned = reinterpret_cast<void*>(
        (reinterpret_cast<std::uintptr_t>(counter_memory.data()) + 63) & ~std::uintptr_t{63});
    GuardCounters counters = GuardCounters::attach(aligned, GuardCounters::region_size());
    RecordingSink sink;
    BanHelper helper(sink, HelperSettings{});
    QuietEvents events;
    ClusterNode cluster(without_redis(), windows, helper, &counters, events);
    int channel[2];
    BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, channel) == 0);
    HelperLoopSettings loop_settings;
    loop_settings.channel_fd = channel[1];
    HelperLoop loop(helper, nullptr, nullptr, events, loop_settings, [] { return kT0; });
    loop.set_extension(&cluster);
    auto put = [&](auto message) {
        BOOST_REQUIRE(::send(channel[0], message.data(), message.size(), 0) ==
                      static_cast<ssize_t>(message.size()));
    };
    auto drain = [&](std::size_t bans) {
        for (int turn = 0; turn < 10 && events.verdicts.size() < bans; ++turn) {
            loop.turn(std::chrono::milliseconds(0));
        }
    };
    auto count = [&](Counter which) { return counters.read()[static_cast<std::size_t>(which)]; };
    // Names off on this node (no key): every name report is refused.
    put(encode(sample()));
    put(encode(BanRequest{*Address::parse("198.18.7.200"), 32, 600}));
    drain(1);
    BOOST_TEST(count(Counter::ClusterReportsRefused) == 1u);
    cluster.enable_names(*users.table, settings());  // reports: burst 5, then 1 a second
    for (int i = 0; i < 20; ++i) {
        NameFailureReport lock_at_once = sample("victim");
        lock_at_once.rule.maxretry = 1;  // a rule no vhost has
        put(encode(lock_at_once));
        put(encode(sample("n" + std::to_string(i), 100 + i)));  // within, then over
        put(encode(
            BanRequest{*Address::parse(("198.18.7." + std::to_string(i)).c_str()), 32, 600}));
    }
    drain(21);
    BOOST_TEST(count(Counter::ClusterReportsRefused) == 21u);
    BOOST_TEST(count(Counter::ClusterReportsOverRate) == 15u);
    BOOST_TEST(events.verdicts == std::vector<HelperVerdict>(21, HelperVerdict::Added));
    BOOST_TEST(sink.added.size() == 21u);
    BOOST_TEST(!users.table->any_lock(users.slot, kT0));  // a report alone locks nothing
    close(channel[0]);
    close(channel[1]);
}
