#define BOOST_TEST_MODULE cluster
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "cluster_apply.hpp"
#include "cluster_node.hpp"
#include "redis_url.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/ban_sink.hpp"
#include "xmlrpcguard/offence_report.hpp"
#include "xmlrpcguard/status_report.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;

namespace xmlrpcguard {
std::ostream& boost_test_print_type(std::ostream& out, ClusterOutcome outcome) {
    return out << to_string(outcome);
}
std::ostream& boost_test_print_type(std::ostream& out, const OffenceReport& report) {
    return out << report.key.to_string() << "/" << unsigned(report.prefix) << " x"
               << unsigned(report.count);
}
}  // namespace xmlrpcguard

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;

Address addr(const char* text) {
    auto address = Address::parse(text);
    BOOST_REQUIRE(address);
    return *address;
}

OffenceReport report_of(const char* text, unsigned prefix = 64, std::uint64_t count = 1) {
    return offence_report(addr(text), prefix, count, WindowRule{600, 3}, 3600,
                          BanReason::AuthFailure);
}

// A table in private memory, a recording sink and the helper's judgement over them.
struct Node {
    explicit Node(std::string own = "me-00000001") {
        std::size_t bytes = WindowTable::region_size(1024);
        memory.reset(static_cast<unsigned char*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
        table.emplace(WindowTable::attach(memory.get(), bytes, 1024).first);
        HelperSettings settings;
        settings.never_ban.add(*Cidr::parse("198.18.9.9"));
        settings.never_ban.add(*Cidr::parse("198.18.0.1"));  // "the server's own"
        settings.bans_per_second = 1;
        settings.burst = 3;
        helper = std::make_unique<BanHelper>(sink, settings);
        applier = std::make_unique<ClusterApplier>(*table, *helper, std::move(own));
    }
    ClusterOutcome apply(std::vector<std::pair<std::string, std::string>> fields,
                         std::int64_t now = kT0) {
        ClusterEntry entry{"1-0", std::move(fields)};
        std::string why;
        return applier->apply(entry, now, why);
    }

    struct Free {
        void operator()(unsigned char* p) const { std::free(p); }
    };
    std::unique_ptr<unsigned char, Free> memory;
    std::optional<WindowTable> table;
    RecordingSink sink;
    std::unique_ptr<BanHelper> helper;
    std::unique_ptr<ClusterApplier> applier;
};

std::vector<std::pair<std::string, std::string>> ban(std::string address, std::string prefix = "32",
                                                     std::int64_t until = kT0 + 600,
                                                     std::string node = "other-1") {
    return {{"op", "ban"},      {"node", std::move(node)},        {"addr", std::move(address)},
            {"prefix", prefix}, {"until", std::to_string(until)}, {"reason", "auth_failure"}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(offence_messages)

BOOST_AUTO_TEST_CASE(a_report_decodes_to_what_was_encoded) {
    for (const OffenceReport& report :
         {report_of("198.18.1.10"), report_of("2001:db8:1:2::", 64, 7),
          report_of("2001:db8::7", 128, 500)}) {
        OffenceMessage message = encode(report);
        auto decoded = decode_offence(message);
        BOOST_REQUIRE(decoded);
        BOOST_TEST(*decoded == report);
    }
    BOOST_TEST(report_of("198.18.1.10", 64, 500).count == WindowTable::kMaxRetryLimit);
}

BOOST_AUTO_TEST_CASE(every_bad_field_is_refused) {
    OffenceMessage good = encode(report_of("198.18.1.10"));
    BOOST_TEST(looks_like_offence(good));
    BOOST_TEST(!decode_offence(std::span<const std::byte>(good.data(), good.size() - 1)));
    // Each byte that must hold a fixed or bounded value, spoiled one at a time.
    for (std::size_t at : {0u, 4u, 5u, 6u, 7u, 8u, 9u, 11u, 36u, 39u}) {
        OffenceMessage bad = good;
        bad[at] = std::byte{0xEE};
        BOOST_TEST(!decode_offence(bad), "byte " << at);
    }
    OffenceReport wide = report_of("2001:db8::", 16);
    BOOST_TEST(!decode_offence(encode(wide)));  // wider than /32
    OffenceReport bits = report_of("2001:db8::1", 64);
    bits.key = addr("2001:db8::1");  // bits past the prefix
    BOOST_TEST(!decode_offence(encode(bits)));
    OffenceReport none = report_of("198.18.1.10");
    none.reason = BanReason::Manual;
    BOOST_TEST(!decode_offence(encode(none)));
    OffenceReport ban_message_size = report_of("198.18.1.10");
    ban_message_size.bantime = 0;
    BOOST_TEST(!decode_offence(encode(ban_message_size)));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(redis_urls)

BOOST_AUTO_TEST_CASE(the_forms_of_the_directive) {
    std::string why;
    auto plain = parse_redis_url("redis://10.0.0.5", why);
    BOOST_REQUIRE(plain);
    BOOST_TEST(plain->host == "10.0.0.5");
    BOOST_TEST(plain->port == 6379);
    BOOST_TEST(plain->db == 0);
    auto full = parse_redis_url("redis://guard:s3cret@redis.example.org:6380/2", why);
    BOOST_REQUIRE(full);
    BOOST_TEST(full->user == "guard");
    BOOST_TEST(full->password == "s3cret");
    BOOST_TEST(full->host == "redis.example.org");
    BOOST_TEST(full->port == 6380);
    BOOST_TEST(full->db == 2);
    auto v6 = parse_redis_url("redis://:pw@[2001:db8::5]:7000", why);
    BOOST_REQUIRE(v6);
    BOOST_TEST(v6->host == "2001:db8::5");
    BOOST_TEST(v6->port == 7000);
    BOOST_TEST(v6->user.empty());
    auto user_only = parse_redis_url("redis://guard@10.0.0.5", why);  // password from the file
    BOOST_REQUIRE(user_only);
    BOOST_TEST(user_only->user == "guard");
    BOOST_TEST(user_only->password.empty());
}

BOOST_AUTO_TEST_CASE(refusals_say_why) {
    std::string why;
    BOOST_TEST(!parse_redis_url("rediss://10.0.0.5", why));
    BOOST_TEST(why.find("TLS") != std::string::npos);
    for (const char* bad : {"http://x", "redis://", "redis://h:0", "redis://h:70000", "redis://h/x",
                            "redis://h o", "redis://[::1"}) {
        why.clear();
        BOOST_TEST(!parse_redis_url(bad, why), bad);
        BOOST_TEST(!why.empty(), bad);
    }
    BOOST_TEST(valid_redis_key_prefix("xmlrpcguard:"));
    BOOST_TEST(!valid_redis_key_prefix(""));
    BOOST_TEST(!valid_redis_key_prefix("a b"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(stream_entries)

BOOST_AUTO_TEST_CASE(a_ban_reaches_the_table_and_the_kernel_once) {
    Node node;
    BOOST_TEST(node.apply(ban("198.18.6.10")) == ClusterOutcome::Applied);
    BOOST_TEST(node.table->banned(addr("198.18.6.10"), kT0 + 1));
    BOOST_REQUIRE(node.sink.added.size() == 1u);
    BOOST_TEST(node.sink.added[0].seconds == 600u);
    BOOST_TEST(node.apply(ban("198.18.6.10")) == ClusterOutcome::Unchanged);
    BOOST_TEST(node.sink.added.size() == 1u);
    BOOST_TEST(node.apply(ban("2001:db8:6::", "64")) == ClusterOutcome::Applied);
    BOOST_TEST(node.apply(ban("198.18.6.11", "32", kT0 - 1)) == ClusterOutcome::Expired);
}

BOOST_AUTO_TEST_CASE(protected_addresses_and_wide_networks_are_refused) {
    Node node;
    BOOST_TEST(node.apply(ban("127.0.0.1")) == ClusterOutcome::Protected);
    BOOST_TEST(node.apply(ban("198.18.9.9")) == ClusterOutcome::Protected);
    BOOST_TEST(node.apply(ban("198.18.0.1")) == ClusterOutcome::Protected);
    BOOST_TEST(node.apply(ban("::1", "128")) == ClusterOutcome::Protected);
    BOOST_TEST(node.apply(ban("198.18.0.0", "15")) == ClusterOutcome::Malformed);  // IPv4: /32 only
    BOOST_TEST(node.apply(ban("2001:db8::", "16")) == ClusterOutcome::Malformed);  // wider than /32
    BOOST_TEST(node.apply(ban("2001:db8::1", "64")) == ClusterOutcome::Malformed);  // bits past it
    BOOST_TEST(node.apply(ban("198.18.6.10", "32", kT0 + 3651LL * 86400)) ==
               ClusterOutcome::Malformed);
    auto no_node = ban("198.18.6.10");
    no_node[1].second = "bad name";
    BOOST_TEST(node.apply(no_node) == ClusterOutcome::Malformed);
    auto bad_reason = ban("198.18.6.10");
    bad_reason[5].second = "none";
    BOOST_TEST(node.apply(bad_reason) == ClusterOutcome::Malformed);
    BOOST_TEST(node.apply({{"op", "explode"}, {"node", "x"}}) == ClusterOutcome::Malformed);
    BOOST_TEST(node.sink.added.empty());
    BOOST_TEST(node.table->stats(kT0).banned == 0u);
}

BOOST_AUTO_TEST_CASE(the_rate_ceiling_holds_for_stream_bans) {
    Node node;  // burst 3, then 1 a second
    int applied = 0, kept = 0;
    for (int i = 0; i < 10; ++i) {
        auto outcome = node.apply(ban("198.18.7." + std::to_string(10 + i)));
        applied += outcome == ClusterOutcome::Applied;
        kept += outcome == ClusterOutcome::Deferred;  // applied later (test_trust_boundary)
    }
    BOOST_TEST(applied == 3);
    BOOST_TEST(kept == 7);
    BOOST_TEST(!node.table->banned(addr("198.18.7.19"), kT0));  // nothing planted past it
}

BOOST_AUTO_TEST_CASE(unban_and_flush_from_others_but_not_our_own_again) {
    Node node("me-1");
    node.apply(ban("198.18.6.10"));
    node.apply(ban("198.18.6.11"));
    BOOST_TEST(
        node.apply(
            {{"op", "unban"}, {"node", "me-1"}, {"addr", "198.18.6.10"}, {"prefix", "32"}}) ==
        ClusterOutcome::Skipped);
    BOOST_TEST(node.table->banned(addr("198.18.6.10"), kT0));
    BOOST_TEST(
        node.apply(
            {{"op", "unban"}, {"node", "other-1"}, {"addr", "198.18.6.10"}, {"prefix", "32"}}) ==
        ClusterOutcome::Applied);
    BOOST_TEST(!node.table->banned(addr("198.18.6.10"), kT0));
    BOOST_TEST(node.sink.removed.size() == 1u);
    BOOST_TEST(node.apply({{"op", "flush"}, {"node", "other-1"}}) == ClusterOutcome::Applied);
    BOOST_TEST(!node.table->banned(addr("198.18.6.11"), kT0));
    BOOST_TEST(node.sink.flushes == 1);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(status)

BOOST_AUTO_TEST_CASE(the_status_page_says_the_links_state) {
    StatusReport report;
    BOOST_TEST(cluster_state(report).empty());  // no XmlRpcGuardCluster: nothing said
    report.counters[static_cast<std::size_t>(Counter::ClusterStateSince)] = 1'764'480'000;
    BOOST_TEST(cluster_state(report) == "cluster: disconnected since 2025-11-30T05:20:00Z");
    report.counters[static_cast<std::size_t>(Counter::ClusterConnected)] = 1;
    BOOST_TEST(cluster_state(report) == "cluster: connected since 2025-11-30T05:20:00Z");
    BOOST_TEST(status_json(report).find("\"cluster\":\"cluster: connected since") !=
               std::string::npos);
    BOOST_TEST(status_html(report).find("cluster: connected since") != std::string::npos);
    BOOST_TEST(status_metrics(report).find("xmlrpcguard_cluster_connected 1") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(kept_bans_across_a_restart)

namespace {

// A resume file as the helper writes it (root's, 0600), removed at the end.
struct ResumeFile {
    explicit ResumeFile(const std::string& text) {
        char name[] = "/tmp/xrg-resume-XXXXXX";
        int fd = mkstemp(name);
        BOOST_REQUIRE(fd >= 0);
        close(fd);
        path = name;
        std::ofstream(path, std::ios::binary) << text;
    }
    ~ResumeFile() { unlink(path.c_str()); }
    std::string path;
};

std::string line(const char* address, const char* prefix, std::int64_t until,
                 const char* reason = "auth_failure") {
    return std::string(address) + " " + prefix + " " + std::to_string(until) + " " + reason + "\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(kept_bans_go_through_the_file_and_wait_again) {
    Node before;  // burst 3: of 8 bans, 5 wait
    for (int i = 0; i < 7; ++i) {
        before.apply(ban("198.18.7." + std::to_string(10 + i)));
    }
    BOOST_TEST(before.apply(ban("2001:db8:7::", "64")) == ClusterOutcome::Deferred);
    std::string kept = before.applier->kept_lines();
    BOOST_TEST(before.applier->deferred() == 5u);
    BOOST_TEST(kept.find("198.18.7.13 32 " + std::to_string(kT0 + 600) + " auth_failure\n") == 0u);

    ResumeFile file("1700000000000-7\n" + kept);
    std::string loaded;
    BOOST_TEST(ClusterNode::load_resume(file.path, &loaded) == "1700000000000-7");
    BOOST_TEST(loaded == kept);

    Node after;
    BOOST_TEST(after.applier->restore(loaded, kT0 + 1) == 0u);
    BOOST_TEST(after.applier->deferred() == 5u);
    BOOST_TEST(after.applier->kept_lines() == kept);
    BOOST_TEST(after.sink.added.empty());  // kept, not planted
    BOOST_TEST(!after.table->banned(addr("198.18.7.13"), kT0 + 1));
    BOOST_TEST(after.applier->retry_deferred(kT0 + 1) == 3u);  // within the ceiling, in order
    BOOST_TEST(after.table->banned(addr("198.18.7.15"), kT0 + 1));
    BOOST_TEST(!after.table->banned(addr("198.18.7.16"), kT0 + 1));
    BOOST_TEST(after.applier->deferred() == 2u);
    BOOST_TEST(after.sink.added[0].seconds == 599u);  // the same end, not a new bantime
}

BOOST_AUTO_TEST_CASE(bad_protected_and_ended_lines_are_not_kept) {
    Node node;
    std::int64_t until = kT0 + 600;
    std::string lines = "garbage\n" + std::string(5000, 'x') + "\n" +
                        line("198.18.9.9", "32", until) +                 // protected
                        line("127.0.0.1", "32", until) +                  // loopback
                        line("198.18.0.0", "15", until) +                 // IPv4: /32 only
                        line("2001:db8::1", "64", until) +                // bits past the prefix
                        line("198.18.7.2", "32", kT0 + 3651LL * 86400) +  // past the max
                        line("198.18.7.3", "32", until, "none") +         // no such reason
                        "198.18.7.4 32 " + std::to_string(until) + " manual extra\n" +
                        line("198.18.7.5", "32", kT0 - 1) +  // ended: dropped, not refused
                        "\n" + line("198.18.7.6", "32", until, "manual");
    BOOST_TEST(node.applier->restore(lines, kT0) == 10u);
    BOOST_TEST(node.applier->deferred() == 1u);
    BOOST_TEST(node.applier->kept_lines() == line("198.18.7.6", "32", until, "manual"));
    BOOST_TEST(node.sink.added.empty());

    ClusterApplierLimits small;
    small.deferred_limit = 2;
    ClusterApplier bounded(*node.table, *node.helper, "me-1", small);
    BOOST_TEST(bounded.restore(line("198.18.7.7", "32", until) + line("198.18.7.8", "32", until) +
                                   line("198.18.7.9", "32", until),
                               kT0) == 1u);
    BOOST_TEST(bounded.deferred() == 2u);
}

BOOST_AUTO_TEST_CASE(an_old_file_a_bad_file_and_a_huge_file) {
    std::string kept = "unchanged";
    BOOST_TEST(ClusterNode::load_resume(ResumeFile("1-2\n").path, &kept) == "1-2");
    BOOST_TEST(kept.empty());  // an id only: nothing kept
    BOOST_TEST(ClusterNode::load_resume(ResumeFile("1-2").path) == "1-2");
    BOOST_TEST(ClusterNode::load_resume(ResumeFile("1-2\nA 1\nB\ncut").path, &kept) == "1-2");
    BOOST_TEST(kept == "A 1\nB\n");
    BOOST_TEST(ClusterNode::load_resume(ResumeFile("garbage\n1-2\n").path).empty());
    {
        ResumeFile writable("1-2\n");
        chmod(writable.path.c_str(), 0620);
        BOOST_TEST(ClusterNode::load_resume(writable.path).empty());
    }
    std::string huge = "3-4\n";
    while (huge.size() < 1'000'000) {
        huge += line("198.18.7.10", "32", kT0 + 600);
    }
    kept.clear();
    BOOST_TEST(ClusterNode::load_resume(ResumeFile(huge).path, &kept) == "3-4");
    BOOST_TEST(kept.size() <= ClusterApplierLimits{}.deferred_limit * 96 + 64);
    BOOST_TEST(kept.size() > 100'000u);
    BOOST_TEST(kept.back() == '\n');
}

BOOST_AUTO_TEST_SUITE_END()
