// The operator's view: shared counters, the status report in its three formats, and
// the control commands the ban helper executes for xmlrpcguardctl.
#define BOOST_TEST_MODULE operator
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/control.hpp"
#include "xmlrpcguard/guard_counters.hpp"
#include "xmlrpcguard/status_report.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;

namespace {

constexpr std::int64_t kT0 = 1'800'000'000;
constexpr WindowRule kRule{600, 3};

Address addr(const char* text) {
    auto address = Address::parse(text);
    BOOST_REQUIRE(address);
    return *address;
}

// A table in private memory, with two bans and two offenders under the threshold.
struct Scene {
    std::vector<std::byte> table_memory;
    std::vector<std::byte> counter_memory;
    WindowTable table;
    GuardCounters counters;
    RecordingSink sink;
    BanHelper helper;

    Scene()
        : table_memory(WindowTable::region_size(1024) + 64),
          counter_memory(GuardCounters::region_size() + 64),
          table(WindowTable::attach(aligned(table_memory), WindowTable::region_size(1024), 1024)
                    .first),
          counters(GuardCounters::attach(aligned(counter_memory), GuardCounters::region_size())),
          helper(sink, HelperSettings{}) {
        table.record(addr("198.18.5.1"), kT0 - 100, 3, kRule);
        table.ban(addr("198.18.5.1"), kT0 - 100, kT0 + 3500, BanReason::AuthFailure);
        Address v6 = addr("2001:db8:5::7").offender_key(64);
        table.record(v6, kT0 - 50, 500, kRule);
        table.ban(v6, kT0 - 50, kT0 + 3550, BanReason::AuthFailure);
        table.record(addr("198.18.5.2"), kT0 - 10, 2, kRule);
        table.record(addr("198.18.5.3"), kT0 - 20, 1, kRule);
        table.record(addr("198.18.5.4"), kT0 - 5000, 1, kRule);  // outside findtime
        counters.add(Counter::XmlRpcExchanges, 7);
        counters.add(Counter::AuthFailures, 503);
        counters.add(Counter::Bans, 2);
    }

    static void* aligned(std::vector<std::byte>& memory) {
        auto at = reinterpret_cast<std::uintptr_t>(memory.data());
        return reinterpret_cast<void*>((at + 63) & ~std::uintptr_t{63});
    }
};

boost::property_tree::ptree parse_json(const std::string& text) {
    std::istringstream in(text);
    boost::property_tree::ptree tree;
    boost::property_tree::read_json(in, tree);  // throws on malformed JSON
    return tree;
}

// The Prometheus text format (0.0.4) rules a scraper enforces: HELP/TYPE lines,
// metric and label names, one TYPE per family before its samples, numeric values,
// no duplicate series. Returns what is wrong, or "" if nothing.
std::string prometheus_problem(const std::string& text) {
    static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
    static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
    static const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\\n]*")*\})? -?[0-9]+(\.[0-9]+)?)");
    if (text.empty() || text.back() != '\n') {
        return "must end with a newline";
    }
    std::map<std::string, std::string> types;
    std::set<std::string> series;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_match(line, m, help)) {
            continue;
        }
        if (std::regex_match(line, m, type)) {
            if (!types.emplace(m[1], m[2]).second) {
                return "a second TYPE line: " + line;
            }
            continue;
        }
        if (!std::regex_match(line, m, sample)) {
            return "not a sample line: " + line;
        }
        std::string family = m[1];
        if (!types.count(family)) {
            return "a sample before its TYPE: " + line;
        }
        if (types[family] == "counter" && !family.ends_with("_total")) {
            return "a counter not ending in _total: " + line;
        }
        if (!series.insert(line.substr(0, line.rfind(' '))).second) {
            return "a duplicate series: " + line;
        }
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(counters_survive_a_reattach_and_a_foreign_region_is_formatted) {
    std::vector<std::byte> memory(GuardCounters::region_size() + 64);
    void* base = Scene::aligned(memory);
    auto counters = GuardCounters::attach(base, GuardCounters::region_size());
    counters.add(Counter::Bans, 3);
    counters.add(Counter::DeniedRequests);
    auto again = GuardCounters::attach(base, GuardCounters::region_size());
    BOOST_TEST(again.read()[static_cast<std::size_t>(Counter::Bans)] == 3u);
    BOOST_TEST(again.read()[static_cast<std::size_t>(Counter::DeniedRequests)] == 1u);
    BOOST_TEST(again.since() > 0);

    std::memset(base, 0x5a, GuardCounters::region_size());  // not ours
    auto fresh = GuardCounters::attach(base, GuardCounters::region_size());
    for (auto value : fresh.read()) {
        BOOST_TEST(value == 0u);
    }
    BOOST_CHECK_THROW(GuardCounters::attach(base, 8), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(counters_kept_by_an_older_module_with_fewer_of_them_carry_over) {
    // The region a graceful restart hands to a module that appended counters: the old
    // numbers stay, the appended ones start at zero whatever the padding held.
    std::vector<std::byte> memory(GuardCounters::region_size() + 64);
    void* base = Scene::aligned(memory);
    auto counters = GuardCounters::attach(base, GuardCounters::region_size());
    counters.add(Counter::Bans, 3);
    auto* bytes = static_cast<unsigned char*>(base);
    std::uint32_t older_count = kCounterCount - 3;  // magic (8), layout (4), then the count
    std::memcpy(bytes + 12, &older_count, sizeof older_count);
    std::uint64_t padding = 0x5a5a5a5a5a5a5a5aULL;  // values start after `since`, at 24
    std::memcpy(bytes + 24 + 8 * (kCounterCount - 1), &padding, sizeof padding);
    auto again = GuardCounters::attach(base, GuardCounters::region_size());
    BOOST_TEST(again.read()[static_cast<std::size_t>(Counter::Bans)] == 3u);
    BOOST_TEST(again.read()[kCounterCount - 1] == 0u);
}

BOOST_AUTO_TEST_CASE(every_counter_has_a_distinct_snake_case_name_and_help) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        const auto& about = info(static_cast<Counter>(i));
        BOOST_TEST(std::regex_match(std::string(about.name), std::regex("[a-z][a-z0-9_]*")));
        BOOST_TEST(!about.help.empty());
        BOOST_TEST(names.insert(std::string(about.name)).second);
    }
}

BOOST_AUTO_TEST_CASE(the_report_lists_bans_latest_first_and_offenders_by_count) {
    Scene scene;
    auto report = gather_status(scene.table, &scene.counters, kT0, kRule, 64);
    BOOST_TEST(report.bans_total == 2u);
    BOOST_REQUIRE(report.bans.size() == 2u);
    BOOST_TEST(key_text(report.bans[0].address, 64) == "2001:db8:5::/64");
    BOOST_TEST(key_text(report.bans[1].address, 64) == "198.18.5.1");
    BOOST_REQUIRE(report.offenders.size() == 2u);  // .4's offence is outside findtime
    BOOST_TEST(report.offenders[0].address.to_string() == "198.18.5.2");
    BOOST_TEST(report.offenders[0].in_window == 2u);
    BOOST_TEST(report.offenders[1].address.to_string() == "198.18.5.3");

    auto capped = gather_status(scene.table, &scene.counters, kT0, kRule, 64, {1, 1});
    BOOST_TEST(capped.bans.size() == 1u);
    BOOST_TEST(capped.bans_total == 2u);
    BOOST_TEST(capped.offenders.size() == 1u);
}

BOOST_AUTO_TEST_CASE(json_parses_and_carries_the_figures) {
    Scene scene;
    auto tree =
        parse_json(status_json(gather_status(scene.table, &scene.counters, kT0, kRule, 64)));
    BOOST_TEST(tree.get<int>("counters.auth_failures") == 503);
    BOOST_TEST(tree.get<int>("counters.xmlrpc_exchanges") == 7);
    BOOST_TEST(tree.get<int>("table.banned") == 2);
    BOOST_TEST(tree.get<int>("bans_total") == 2);
    BOOST_TEST(tree.get<int>("maxretry") == 3);
    std::vector<std::string> banned;
    for (const auto& [key, ban] : tree.get_child("bans")) {
        banned.push_back(ban.get<std::string>("address"));
        BOOST_TEST(ban.get<std::string>("reason") == "auth_failure");
        BOOST_TEST(std::regex_match(ban.get<std::string>("until"),
                                    std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
    }
    BOOST_TEST(banned == (std::vector<std::string>{"2001:db8:5::/64", "198.18.5.1"}),
               boost::test_tools::per_element());
    BOOST_TEST(tree.get_child("offenders").size() == 2u);
}

BOOST_AUTO_TEST_CASE(metrics_follow_the_prometheus_text_format) {
    Scene scene;
    std::string text = status_metrics(gather_status(scene.table, &scene.counters, kT0, kRule, 64));
    BOOST_TEST(prometheus_problem(text) == "");
    BOOST_TEST(text.find("xmlrpcguard_offences_total{kind=\"auth_failure\"} 503\n") !=
               std::string::npos);
    BOOST_TEST(text.find("xmlrpcguard_banned_addresses 2\n") != std::string::npos);
    BOOST_TEST(text.find("198.18.") == std::string::npos, "no addresses in metric labels");
}

BOOST_AUTO_TEST_CASE(the_format_check_refuses_broken_metrics) {
    const char* type = "# TYPE xrg_x_total counter\n";
    BOOST_TEST(prometheus_problem("xrg_x_total 1\n") != "");
    BOOST_TEST(prometheus_problem(std::string(type) + "xrg_x_total 1") != "");
    BOOST_TEST(prometheus_problem(std::string(type) + "xrg_x_total{a=\"1\"} one\n") != "");
    BOOST_TEST(prometheus_problem(std::string(type) + "xrg_x_total{1a=\"1\"} 1\n") != "");
    BOOST_TEST(prometheus_problem(std::string(type) + "xrg_x_total 1\nxrg_x_total 2\n") != "");
    BOOST_TEST(prometheus_problem("# TYPE xrg_x counter\nxrg_x 1\n") != "");
    BOOST_TEST(prometheus_problem(std::string(type) + "xrg_x_total{a=\"1\"} 1\n") == "");
}

BOOST_AUTO_TEST_CASE(html_is_one_self_contained_page_with_escaped_text) {
    Scene scene;
    std::string html = status_html(gather_status(scene.table, &scene.counters, kT0, kRule, 64));
    BOOST_TEST(html.rfind("<!DOCTYPE html>", 0) == 0);
    BOOST_TEST(html.find("198.18.5.1") != std::string::npos);
    BOOST_TEST(html.find("2001:db8:5::/64") != std::string::npos);
    BOOST_TEST(html.find("src=") == std::string::npos, "no external assets");
    BOOST_TEST(html.find("href=\"http") == std::string::npos, "no external links");
    BOOST_TEST(html.find("</html>") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(control_unban_lifts_the_ban_in_the_table_and_the_kernel) {
    Scene scene;
    ControlService control(scene.table, scene.helper, &scene.counters, {kRule, 3600});
    BOOST_TEST(scene.table.banned(addr("198.18.5.1"), kT0));
    std::string answer = control.execute("unban 198.18.5.1\n", kT0);
    BOOST_TEST(answer == "ok unbanned 198.18.5.1\n");
    BOOST_TEST(!scene.table.banned(addr("198.18.5.1"), kT0));
    BOOST_REQUIRE(scene.sink.removed.size() == 1u);
    BOOST_TEST(scene.sink.removed[0].key.to_string() == "198.18.5.1");
    BOOST_TEST(control.execute("unban 198.18.5.1", kT0) == "ok was not banned: 198.18.5.1\n");

    // An IPv6 host's ban is its /64's.
    BOOST_TEST(control.execute("unban 2001:db8:5::99", kT0) == "ok unbanned 2001:db8:5::/64\n");
    BOOST_TEST(unsigned(scene.sink.removed.back().prefix) == 64u);
}

BOOST_AUTO_TEST_CASE(control_ban_puts_the_address_in_both_places_with_its_duration) {
    Scene scene;
    ControlService control(scene.table, scene.helper, &scene.counters, {kRule, 3600});
    BOOST_TEST(control.execute("ban 198.18.5.9 10m", kT0).rfind("ok banned 198.18.5.9 until", 0) ==
               0);
    BOOST_TEST(scene.table.banned(addr("198.18.5.9"), kT0 + 599));
    BOOST_TEST(!scene.table.banned(addr("198.18.5.9"), kT0 + 600));
    BOOST_REQUIRE(scene.sink.added.size() == 1u);
    BOOST_TEST(scene.sink.added[0].seconds == 600u);
    control.execute("ban 198.18.5.10", kT0);
    BOOST_TEST(scene.sink.added.back().seconds == 3600u, "the default bantime");

    std::string listing = control.execute("list", kT0);
    BOOST_TEST(listing.rfind("ok 4 banned\n", 0) == 0, listing);
    BOOST_TEST(listing.find("banned 198.18.5.9 reason=manual") != std::string::npos, listing);
    BOOST_TEST(listing.find("counting 198.18.5.2 offences_in_window=2/3") != std::string::npos,
               listing);
}

BOOST_AUTO_TEST_CASE(control_refuses_what_it_must) {
    Scene scene;
    ControlService control(scene.table, scene.helper, &scene.counters, {kRule, 3600});
    BOOST_TEST(control.execute("ban 127.0.0.1", kT0).rfind("error: a protected address", 0) == 0);
    BOOST_TEST(!scene.table.banned(addr("127.0.0.1"), kT0));
    BOOST_TEST(control.execute("ban 198.18.5.300", kT0).rfind("error: not an IP address", 0) == 0);
    BOOST_TEST(control.execute("ban 198.18.5.9 soon", kT0).rfind("error: not a duration", 0) == 0);
    BOOST_TEST(control.execute("ban 198.18.5.9 0", kT0).rfind("error: not a duration", 0) == 0);
    BOOST_TEST(control.execute("", kT0).rfind("error: empty command", 0) == 0);
    BOOST_TEST(control.execute("drop table", kT0).rfind("error: unknown command", 0) == 0);
    BOOST_TEST(control.execute("unban", kT0).rfind("error: unknown command", 0) == 0);
    BOOST_TEST(scene.sink.added.empty());

    scene.sink.fail_with = "no such set";
    BOOST_TEST(control.execute("unban 198.18.5.1", kT0) ==
               "error: unbanned in httpd, but the kernel refused: no such set\n");
}

BOOST_AUTO_TEST_CASE(control_flush_lifts_every_ban_and_status_reports_figures) {
    Scene scene;
    ControlService control(scene.table, scene.helper, &scene.counters, {kRule, 3600});
    BOOST_TEST(control.execute("flush", kT0) == "ok unbanned 2\n");
    BOOST_TEST(scene.sink.flushes == 1);
    BOOST_TEST(!scene.table.banned(addr("198.18.5.1"), kT0));
    std::string status = control.execute("status", kT0);
    BOOST_TEST(status.rfind("ok\n", 0) == 0);
    BOOST_TEST(status.find("\nauth_failures 503\n") != std::string::npos, status);
    BOOST_TEST(status.find("\nbanned_now 0\n") != std::string::npos, status);
}
