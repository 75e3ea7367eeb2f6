// The helper's trust boundary (issues 15 and 17): what a PHP process writing to the
// children's channel, or whoever writes to Redis, can make the helper do. Each case
// names the attack it stands for.
#define BOOST_TEST_MODULE trust_boundary
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cluster_apply.hpp"
#include "cluster_node.hpp"
#include "helper_loop.hpp"
#include "offence_admission.hpp"
#include "quiet_events.hpp"
#include "test_window_table_support.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/ban_key.hpp"
#include "xmlrpcguard/ban_sink.hpp"
#include "xmlrpcguard/control.hpp"
#include "xmlrpcguard/guard_counters.hpp"
#include "xmlrpcguard/offence_report.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;

namespace xmlrpcguard {
std::ostream& boost_test_print_type(std::ostream& out, ClusterOutcome outcome) {
    return out << to_string(outcome);
}
std::ostream& boost_test_print_type(std::ostream& out, ReportVerdict verdict) {
    return out << to_string(verdict);
}
std::ostream& boost_test_print_type(std::ostream& out, HelperVerdict verdict) {
    return out << to_string(verdict);
}
}  // namespace xmlrpcguard

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;
constexpr WindowRule kRule{600, 3};
constexpr std::uint32_t kBanTime = 3600;

Address addr(const char* text) {
    auto address = Address::parse(text);
    BOOST_REQUIRE(address);
    return *address;
}

// A node as the helper holds it: a table in private memory, a recording sink, the
// helper's judgement (never_ban: an ignored host and "the server's own"), the stream's
// applier, the reports' admission with the configured rule, the operator's service.
struct Node {
    explicit Node(std::uint32_t per_second = 1, std::uint32_t burst = 3,
                  ClusterApplierLimits limits = {}, OffenceAdmissionSettings reports = rules()) {
        table.emplace(WindowTable::attach(region.base(), region.size(), 1024).first);
        HelperSettings settings;
        settings.never_ban.add(*Cidr::parse("198.18.9.9"));     // XmlRpcGuardIgnoreIP
        settings.never_ban.add(*Cidr::parse("198.18.0.1"));     // the server's own
        settings.never_ban.add(*Cidr::parse("2001:db8:9::9"));  // an ignored IPv6 host
        settings.bans_per_second = per_second;
        settings.burst = burst;
        helper = std::make_unique<BanHelper>(sink, settings);
        applier = std::make_unique<ClusterApplier>(*table, *helper, "me-1", limits);
        admission = std::make_unique<OffenceAdmission>(std::move(reports));
        control = std::make_unique<ControlService>(*table, *helper, nullptr, ControlSettings{});
    }
    static OffenceAdmissionSettings rules() {
        OffenceAdmissionSettings reports;
        reports.rules = {{kRule.findtime, kRule.maxretry, kBanTime, 64}};
        reports.per_second = 2;
        reports.burst = 5;
        return reports;
    }
    ClusterOutcome apply(std::vector<std::pair<std::string, std::string>> fields,
                         std::int64_t now = kT0) {
        ClusterEntry entry{"1-0", std::move(fields)};
        std::string why;
        return applier->apply(entry, now, why);
    }
    ReportVerdict report(const OffenceReport& report, std::int64_t now = kT0) {
        OffenceMessage message = encode(report);
        OffenceReport out;
        return admission->judge(message, *helper, now, out);
    }
    HelperVerdict child_ban(const BanRequest& request, std::int64_t now = kT0) {
        BanMessage message = encode(request);
        std::string error;
        return helper->on_message(message, now, error);
    }

    xrg_test::SharedRegion region{WindowTable::region_size(1024)};
    std::optional<WindowTable> table;
    RecordingSink sink;
    std::unique_ptr<BanHelper> helper;
    std::unique_ptr<ClusterApplier> applier;
    std::unique_ptr<OffenceAdmission> admission;
    std::unique_ptr<ControlService> control;
};

std::vector<std::pair<std::string, std::string>> ban(std::string address, std::string prefix = "32",
                                                     std::int64_t until = kT0 + 600) {
    return {{"op", "ban"},
            {"node", "other-1"},
            {"addr", std::move(address)},
            {"prefix", prefix},
            {"until", std::to_string(until)},
            {"reason", "auth_failure"}};
}

std::vector<std::pair<std::string, std::string>> unban(std::string address,
                                                       std::string prefix = "32") {
    return {{"op", "unban"}, {"node", "other-1"}, {"addr", std::move(address)}, {"prefix", prefix}};
}

struct KeyCase {
    const char* address;
    unsigned prefix;
};

OffenceReport report_of(const char* text, WindowRule rule = kRule, std::uint32_t bantime = kBanTime,
                        unsigned ipv6_prefix = 64, std::uint64_t count = 1) {
    return offence_report(addr(text), ipv6_prefix, count, rule, bantime, BanReason::AuthFailure);
}

}  // namespace

// Attack: a PHP process (mod_php: it runs inside an httpd child and holds the channel's
// sending end) writes an offence report with maxretry 1, or any findtime or bantime it
// likes, for an address it wants banned on every node of the fleet.
BOOST_AUTO_TEST_SUITE(child_reports)

BOOST_AUTO_TEST_CASE(only_a_configured_rule_goes_to_the_fleet) {
    Node node;
    BOOST_TEST(node.report(report_of("198.18.6.10")) == ReportVerdict::Accepted);
    BOOST_TEST(node.report(report_of("198.18.6.10", WindowRule{600, 1})) ==
               ReportVerdict::UnknownRule);  // maxretry 1
    BOOST_TEST(node.report(report_of("198.18.6.10", WindowRule{86400, 3})) ==
               ReportVerdict::UnknownRule);  // a longer window
    BOOST_TEST(node.report(report_of("198.18.6.10", kRule, 365 * 86400)) ==
               ReportVerdict::UnknownRule);  // a year's ban
    BOOST_TEST(node.report(report_of("2001:db8:6::", kRule, kBanTime, 64)) ==
               ReportVerdict::Accepted);
    BOOST_TEST(node.report(report_of("2001:db8:6::", kRule, kBanTime, 48)) ==
               ReportVerdict::UnknownRule);  // a /48 no vhost keys by
    OffenceAdmission none{OffenceAdmissionSettings{}};
    BOOST_TEST(!none.configured(report_of("198.18.6.10")));  // no reporting vhost: nothing
}

// Attack: the same process floods the channel with well-formed reports, so that the
// link's queue drops the real ones (and Redis is kept busy).
BOOST_AUTO_TEST_CASE(a_flood_of_reports_is_cut_at_the_ceiling_before_the_queue) {
    Node node;  // reports: burst 5, then 2 a second
    int accepted = 0, over = 0;
    for (int i = 0; i < 50; ++i) {
        auto verdict = node.report(report_of("198.18.6.11"));
        accepted += verdict == ReportVerdict::Accepted;
        over += verdict == ReportVerdict::OverRate;
    }
    BOOST_TEST(accepted == 5);
    BOOST_TEST(over == 45);
    BOOST_TEST(node.report(report_of("198.18.6.11"), kT0 + 1) == ReportVerdict::Accepted);
    // Ban messages on the same channel are judged apart: the reports' ceiling takes
    // nothing from the kernel adds' one.
    BOOST_TEST(node.child_ban({addr("198.18.6.12"), 32, 600}) == HelperVerdict::Added);
}

// The same attack through the real channel and loop: a socket pair, the helper's loop
// and a ClusterNode (its link to a Redis that is not there: the reports wait in its
// queue). Forged reports are counted and dropped; the ban messages between them are
// all obeyed in the same turns.
BOOST_AUTO_TEST_CASE(through_the_channel_forged_reports_are_dropped_and_bans_still_obeyed) {
    Node node(1000, 1000);
    std::vector<std::byte> counter_memory(GuardCounters::region_size() + 64);
    void* aligned = reinterpret_cast<void*>(
        (reinterpret_cast<std::uintptr_t>(counter_memory.data()) + 63) & ~std::uintptr_t{63});
    GuardCounters counters = GuardCounters::attach(aligned, GuardCounters::region_size());
    QuietEvents events;
    ClusterNodeSettings settings;
    settings.link.endpoint.host = "127.0.0.1";
    settings.link.endpoint.port = 1;  // nobody: the link retries in its own threads
    settings.link.node = "me-1";
    settings.link.io_timeout = std::chrono::milliseconds(50);
    settings.link.block = std::chrono::milliseconds(50);
    settings.link.backoff_first = settings.link.backoff_max = std::chrono::milliseconds(50);
    settings.reports = Node::rules();  // burst 5, then 2 a second
    ClusterNode cluster(settings, *node.table, *node.helper, &counters, events);
    int channel[2];
    BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, channel) == 0);
    HelperLoopSettings loop_settings;
    loop_settings.channel_fd = channel[1];
    HelperLoop loop(*node.helper, nullptr, nullptr, events, loop_settings, [] { return kT0; });
    loop.set_extension(&cluster);
    auto put = [&](auto message) {
        BOOST_REQUIRE(::send(channel[0], message.data(), message.size(), 0) ==
                      static_cast<ssize_t>(message.size()));
    };
    for (int i = 0; i < 20; ++i) {
        put(encode(report_of("198.18.6.20", WindowRule{600, 1})));  // maxretry 1
        put(encode(report_of("198.18.6.21")));                      // within, then over
        put(encode(BanRequest{addr(("198.18.7." + std::to_string(i)).c_str()), 32, 600}));
    }
    for (int turn = 0; turn < 10 && events.verdicts.size() < 20; ++turn) {
        loop.turn(std::chrono::milliseconds(0));
    }
    auto values = counters.read();
    BOOST_TEST(values[static_cast<std::size_t>(Counter::ClusterReportsRefused)] == 20u);
    BOOST_TEST(values[static_cast<std::size_t>(Counter::ClusterReportsOverRate)] == 15u);
    BOOST_TEST(events.verdicts == std::vector<HelperVerdict>(20, HelperVerdict::Added));
    BOOST_TEST(node.sink.added.size() == 20u);
    close(channel[0]);
    close(channel[1]);
}

BOOST_AUTO_TEST_SUITE_END()

// Item 5: the never-ban rule is one (BanHelper::is_protected) and every door applies
// it: a child's ban message, a child's offence report, a stream entry, an operator's
// ban. Protected: loopback, the server's own, an ignored address, and any network
// that holds one.
BOOST_AUTO_TEST_SUITE(never_ban)

BOOST_AUTO_TEST_CASE(every_door_refuses_a_protected_address_or_a_network_holding_one) {
    const KeyCase cases[] = {
        {"127.0.0.1", 32},      {"198.18.0.1", 32},   {"198.18.9.9", 32},
        {"::1", 128},           {"2001:db8:9::", 64},  // a /64 holding the ignored host
        {"2001:db8:9::9", 128}, {"2001:db8::", 32},    // a /32 holding it
    };
    for (const KeyCase& c : cases) {
        Node node(1000, 1000);
        BanRequest request{addr(c.address), static_cast<std::uint8_t>(c.prefix), 600};
        BOOST_REQUIRE_MESSAGE(ban_key_fits(request.key, request.prefix), c.address);
        std::string prefix = std::to_string(c.prefix);
        BOOST_TEST(node.child_ban(request) == HelperVerdict::Protected, c.address);
        OffenceReport report = report_of(c.address, kRule, kBanTime, c.prefix);
        report.key = request.key;
        BOOST_TEST(node.admission->judge(encode(report), *node.helper, kT0, report) ==
                       ReportVerdict::Protected,
                   c.address);
        BOOST_TEST(node.apply(ban(c.address, prefix)) == ClusterOutcome::Protected, c.address);
        std::string error;
        BOOST_TEST(node.helper->ban_now(request, kT0, error) == HelperVerdict::Protected,
                   c.address);
        BOOST_TEST(node.sink.added.empty(), c.address);
        BOOST_TEST(node.table->stats(kT0).banned == 0u, c.address);
    }
    // The operator's ban goes through the same rule (its key: IPv6 masked to /64).
    Node node(1000, 1000);
    for (const char* address : {"127.0.0.1", "198.18.0.1", "198.18.9.9", "2001:db8:9::1"}) {
        std::string answer = node.control->execute(std::string("ban ") + address, kT0);
        BOOST_TEST(answer.starts_with("error: a protected address"), address << ": " << answer);
    }
    BOOST_TEST(node.sink.added.empty());
    BOOST_TEST(node.table->stats(kT0).banned == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// Item 4: one rule for "is this key and prefix valid to ban", whatever the door.
BOOST_AUTO_TEST_SUITE(one_key_rule)

BOOST_AUTO_TEST_CASE(every_decoder_agrees_with_ban_key_fits) {
    const KeyCase cases[] = {
        {"198.18.1.10", 32}, {"198.18.1.0", 24},
        {"198.18.1.10", 33}, {"198.18.1.10", 128},
        {"2001:db8::", 32},  {"2001:db8::", 31},
        {"2001:db8::", 16},  {"2001:db8:1::", 48},
        {"2001:db8::1", 64}, {"2001:db8::1", 128},
        {"2001:db8::", 129}, {"2001:db8:1:2::", 64},
        {"::", 0},           {"::ffff:198.18.1.10", 32},
        {"198.18.1.10", 0},
    };
    for (const KeyCase& c : cases) {
        Address key = addr(c.address);
        bool fits = ban_key_fits(key, c.prefix);
        BanRequest request{key, static_cast<std::uint8_t>(c.prefix), 600};
        BOOST_TEST(decode(encode(request)).has_value() == fits, c.address << "/" << c.prefix);
        OffenceReport report = offence_report(key, 64, 1, kRule, kBanTime, BanReason::AuthFailure);
        report.key = key;
        report.prefix = static_cast<std::uint8_t>(c.prefix);
        BOOST_TEST(decode_offence(encode(report)).has_value() == fits,
                   c.address << "/" << c.prefix);
        BOOST_TEST(cluster_key(c.address, std::to_string(c.prefix)).has_value() == fits,
                   c.address << "/" << c.prefix);
    }
    // A length whose low byte is a valid one is still refused from the stream.
    BOOST_TEST(!cluster_key("198.18.1.10", std::to_string(256 + 32)));
    BOOST_TEST(!cluster_key("198.18.1.10", std::to_string(4294967296LL + 32)));
}

BOOST_AUTO_TEST_CASE(the_offender_key_is_made_one_way) {
    BanRequest v4 = offender_ban(addr("198.18.1.10"), 64, 5);
    BOOST_TEST(v4.key == addr("198.18.1.10"));
    BOOST_TEST(v4.prefix == 32u);
    BanRequest v6 = offender_ban(addr("2001:db8:1:2:3::4"), 48, 5);
    BOOST_TEST(v6.key == addr("2001:db8:1::"));
    BOOST_TEST(v6.prefix == 48u);
    BOOST_TEST(ban_key_fits(v6.key, v6.prefix));
}

BOOST_AUTO_TEST_SUITE_END()

// Attack: whoever writes to Redis appends more bans than the rate ceiling allows. Before,
// those over it were dropped after a match on the error's text; now the verdict is
// typed and they are kept, in order, until the ceiling allows them.
BOOST_AUTO_TEST_SUITE(stream_bans_over_the_ceiling)

BOOST_AUTO_TEST_CASE(ban_now_says_why_in_its_type) {
    Node node(1, 1);
    std::string error;
    BOOST_TEST(node.helper->ban_now({addr("198.18.7.1"), 32, 60}, kT0, error) ==
               HelperVerdict::Added);
    BOOST_TEST(node.helper->ban_now({addr("198.18.7.2"), 32, 60}, kT0, error) ==
               HelperVerdict::OverRate);
    node.sink.fail_with = "netlink said no";
    BOOST_TEST(node.helper->ban_now({addr("198.18.7.3"), 32, 60}, kT0 + 1, error) ==
               HelperVerdict::Failed);
    BOOST_TEST(error == "netlink said no");
}

BOOST_AUTO_TEST_CASE(a_ban_over_the_ceiling_is_kept_and_applied_when_it_refills) {
    Node node;  // bans: burst 3, then 1 a second
    int applied = 0, deferred = 0;
    for (int i = 0; i < 10; ++i) {
        auto outcome = node.apply(ban("198.18.7." + std::to_string(10 + i)));
        applied += outcome == ClusterOutcome::Applied;
        deferred += outcome == ClusterOutcome::Deferred;
    }
    BOOST_TEST(applied == 3);
    BOOST_TEST(deferred == 7);
    BOOST_TEST(node.applier->deferred() == 7u);
    BOOST_TEST(!node.table->banned(addr("198.18.7.19"), kT0));  // nothing planted past it
    BOOST_TEST(node.applier->retry_deferred(kT0) == 0u);
    BOOST_TEST(node.applier->retry_deferred(kT0 + 1) == 1u);  // oldest first
    BOOST_TEST(node.table->banned(addr("198.18.7.13"), kT0 + 1));
    BOOST_TEST(!node.table->banned(addr("198.18.7.14"), kT0 + 1));
    // An unban of a kept ban drops it; a later ban waits behind the older ones.
    BOOST_TEST(node.apply(unban("198.18.7.14"), kT0 + 1) == ClusterOutcome::Unchanged);
    BOOST_TEST(node.apply(ban("198.18.7.30", "32", kT0 + 600), kT0 + 1) ==
               ClusterOutcome::Deferred);
    BOOST_TEST(node.applier->retry_deferred(kT0 + 20) == 3u);  // a burst's worth a turn
    BOOST_TEST(node.applier->retry_deferred(kT0 + 40) == 3u);
    BOOST_TEST(!node.table->banned(addr("198.18.7.14"), kT0 + 40));
    BOOST_TEST(node.table->banned(addr("198.18.7.30"), kT0 + 40));
    BOOST_REQUIRE(node.sink.added.size() == 10u);
    BOOST_TEST(node.sink.added.back().seconds == 560u);  // ends when the entry said
    BOOST_TEST(node.applier->deferred() == 0u);
}

// Attack: a Redis flood of bans takes every kernel add, so the node's own bans (its
// children's messages) find the ceiling reached. The stream has a share of its own.
BOOST_AUTO_TEST_CASE(the_stream_takes_only_its_share_of_the_ceiling) {
    ClusterApplierLimits limits;
    limits.bans_per_second = 2;
    limits.ban_burst = 5;
    Node node(10, 10, limits);  // the helper: burst 10
    int applied = 0, kept = 0;
    for (int i = 0; i < 20; ++i) {
        auto outcome = node.apply(ban("198.18.7." + std::to_string(40 + i)));
        applied += outcome == ClusterOutcome::Applied;
        kept += outcome == ClusterOutcome::Deferred;
    }
    BOOST_TEST(applied == 5);
    BOOST_TEST(kept == 15);
    for (int i = 0; i < 5; ++i) {
        BanRequest own{addr(("198.18.8." + std::to_string(i)).c_str()), 32, 600};
        BOOST_TEST(node.child_ban(own) == HelperVerdict::Added);
    }
}

BOOST_AUTO_TEST_CASE(kept_bans_are_bounded_and_expire) {
    ClusterApplierLimits limits;
    limits.deferred_limit = 4;
    Node node(1, 1, limits);
    BOOST_TEST(node.apply(ban("198.18.8.1")) == ClusterOutcome::Applied);
    for (int i = 2; i <= 5; ++i) {
        BOOST_TEST(node.apply(ban("198.18.8." + std::to_string(i), "32", kT0 + 2)) ==
                   ClusterOutcome::Deferred);
    }
    BOOST_TEST(node.apply(ban("198.18.8.6")) == ClusterOutcome::OverRate);  // no room
    BOOST_TEST(node.applier->retry_deferred(kT0 + 3) == 0u);  // ended meanwhile: dropped
    BOOST_TEST(node.applier->deferred() == 0u);
    BOOST_TEST(node.sink.added.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// Attack: whoever writes to Redis appends unban entries for every banned address, or
// flush after flush, to lift every ban of every node at once.
BOOST_AUTO_TEST_SUITE(stream_lifts)

BOOST_AUTO_TEST_CASE(unbans_from_the_stream_are_bounded) {
    ClusterApplierLimits limits;
    limits.lifts.unbans_per_second = 2;
    limits.lifts.unban_burst = 10;
    Node node(1000, 1000, limits);
    for (int i = 0; i < 30; ++i) {
        BOOST_TEST(node.apply(ban("198.18.8." + std::to_string(i))) == ClusterOutcome::Applied);
    }
    int lifted = 0, refused = 0;
    for (int i = 0; i < 30; ++i) {
        auto outcome = node.apply(unban("198.18.8." + std::to_string(i)));
        lifted += outcome == ClusterOutcome::Applied;
        refused += outcome == ClusterOutcome::LiftOverRate;
    }
    BOOST_TEST(lifted == 10);
    BOOST_TEST(refused == 20);
    BOOST_TEST(node.table->banned(addr("198.18.8.29"), kT0));  // the ban stays
    BOOST_TEST(node.sink.removed.size() == 10u);
    BOOST_TEST(node.apply(unban("198.18.8.29"), kT0 + 1) == ClusterOutcome::Applied);
    // A malformed unban takes nothing from the ceiling.
    BOOST_TEST(node.apply(unban("198.18.8.1", "24"), kT0 + 1) == ClusterOutcome::Malformed);
}

BOOST_AUTO_TEST_CASE(one_flush_from_the_stream_a_minute) {
    Node node(1000, 1000);
    BOOST_TEST(node.apply(ban("198.18.8.1")) == ClusterOutcome::Applied);
    BOOST_TEST(node.apply({{"op", "flush"}, {"node", "other-1"}}) == ClusterOutcome::Applied);
    BOOST_TEST(node.apply(ban("198.18.8.2")) == ClusterOutcome::Applied);
    BOOST_TEST(node.apply({{"op", "flush"}, {"node", "other-1"}}, kT0 + 59) ==
               ClusterOutcome::LiftOverRate);
    BOOST_TEST(node.table->banned(addr("198.18.8.2"), kT0 + 59));
    BOOST_TEST(node.sink.flushes == 1);
    BOOST_TEST(node.apply({{"op", "flush"}, {"node", "other-1"}}, kT0 + 60) ==
               ClusterOutcome::Applied);
    BOOST_TEST(!node.table->banned(addr("198.18.8.2"), kT0 + 60));
}

BOOST_AUTO_TEST_SUITE_END()
