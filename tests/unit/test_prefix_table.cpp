#define BOOST_TEST_MODULE prefix_table
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "test_window_table_support.hpp"
#include "window_table_layout.hpp"
#include "xmlrpcguard/prefix_table.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;
using xrg_test::SharedRegion;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;

struct Fixture {
    explicit Fixture(std::size_t capacity = 256)
        : region(PrefixTable::region_size(capacity)),
          table(PrefixTable::attach(region.base(), region.size(), capacity).first) {}
    SharedRegion region;
    PrefixTable table;
};

PrefixRule rule(std::uint32_t threshold = 4) {
    PrefixRule r;
    r.threshold = threshold;
    r.findtime = 600;
    r.maxretry = 3;
    return r;
}

// The n-th /64 of 2001:db8:7::/48.
Address v6_member(unsigned n) {
    Address a = *Address::parse("2001:db8:7::");
    a.bytes[6] = static_cast<std::uint8_t>(n >> 8);
    a.bytes[7] = static_cast<std::uint8_t>(n);
    return a;
}

Address v4(const char* text) {
    return *Address::parse(text);
}

Cidr cidr(const char* text) {
    return *Cidr::parse(text);
}

}  // namespace

BOOST_AUTO_TEST_CASE(distinct_banned_members_make_the_prefix_due) {
    Fixture f;
    PrefixNote note;
    for (unsigned n = 0; n < 3; ++n) {
        note = f.table.note(v6_member(n), kT0, 3, true, rule());
        BOOST_TEST(!note.due);
    }
    BOOST_TEST(note.members == 3u);
    note = f.table.note(v6_member(3), kT0 + 1, 3, true, rule());
    BOOST_TEST(note.due);
    BOOST_TEST(note.prefix.to_string() == "2001:db8:7::/48");
}

BOOST_AUTO_TEST_CASE(one_member_banned_again_and_again_is_one_member) {
    Fixture f;
    for (int i = 0; i < 20; ++i) {
        PrefixNote note = f.table.note(v6_member(9), kT0 + i, 3, true, rule());
        BOOST_TEST(!note.due);
        BOOST_TEST(note.members == 1u);
    }
}

BOOST_AUTO_TEST_CASE(members_below_maxretry_add_up) {
    Fixture f;
    // Two offences each (maxretry 3): threshold 4 needs 12 offences, so 6 members.
    PrefixNote note;
    for (unsigned n = 0; n < 5; ++n) {
        note = f.table.note(v6_member(n), kT0, 2, false, rule());
        BOOST_TEST(!note.due);
    }
    note = f.table.note(v6_member(5), kT0, 2, false, rule());
    BOOST_TEST(note.due);
    BOOST_TEST(note.offences == 12u);
}

BOOST_AUTO_TEST_CASE(a_member_counts_at_most_maxretry) {
    Fixture f;
    // One member with a thousand offences and two others: three members, not due.
    f.table.note(v6_member(1), kT0, 1000, true, rule());
    f.table.note(v6_member(2), kT0, 1000, true, rule());
    PrefixNote note = f.table.note(v6_member(3), kT0, 1000, true, rule());
    BOOST_TEST(note.offences == 9u);
    BOOST_TEST(!note.due);
}

BOOST_AUTO_TEST_CASE(members_outside_findtime_do_not_count) {
    Fixture f;
    for (unsigned n = 0; n < 3; ++n) {
        f.table.note(v6_member(n), kT0, 3, true, rule());
    }
    PrefixNote note = f.table.note(v6_member(3), kT0 + 601, 3, true, rule());
    BOOST_TEST(!note.due);
    BOOST_TEST(note.members == 1u);
}

BOOST_AUTO_TEST_CASE(ipv4_members_group_by_24_and_other_networks_apart) {
    Fixture f;
    for (int n = 1; n <= 3; ++n) {
        std::string a = "198.18.5." + std::to_string(n);
        BOOST_TEST(!f.table.note(v4(a.c_str()), kT0, 3, true, rule()).due);
    }
    // A neighbour /24 is a prefix of its own.
    BOOST_TEST(!f.table.note(v4("198.18.6.4"), kT0, 3, true, rule()).due);
    PrefixNote note = f.table.note(v4("198.18.5.200"), kT0, 3, true, rule());
    BOOST_TEST(note.due);
    BOOST_TEST(note.prefix.to_string() == "198.18.5.0/24");
}

BOOST_AUTO_TEST_CASE(ban_denies_every_address_of_the_prefix_and_counts_once) {
    Fixture f;
    PrefixRule r = rule();
    Cidr prefix = cidr("2001:db8:7::/48");
    BOOST_TEST(f.table.ban(prefix, kT0, kT0 + 100));
    BOOST_TEST(!f.table.ban(prefix, kT0 + 1, kT0 + 50));  // running: not new, not shorter
    BOOST_TEST(f.table.banned(*Address::parse("2001:db8:7:ffff::1"), r, kT0 + 10));
    BOOST_TEST(f.table.banned(v6_member(40000), r, kT0 + 10));
    BOOST_TEST(!f.table.banned(*Address::parse("2001:db8:8::1"), r, kT0 + 10));
    BOOST_TEST(!f.table.banned(v6_member(1), r, kT0 + 100));  // expired
    BOOST_TEST(f.table.times_banned(prefix) == 1u);
    // A banned prefix takes no further notes.
    PrefixNote note = f.table.note(v6_member(1), kT0 + 5, 3, true, r);
    BOOST_TEST(note.banned);
    BOOST_TEST(!note.due);
    auto stats = f.table.stats(kT0 + 5);
    BOOST_TEST(stats.banned == 1u);
    BOOST_TEST(stats.bans == 1u);
    BOOST_TEST(f.table.unban(prefix, kT0 + 6));
    BOOST_TEST(!f.table.banned(v6_member(1), r, kT0 + 7));
    BOOST_TEST(f.table.audit() == "");
}

BOOST_AUTO_TEST_CASE(a_prefix_of_other_size_is_not_the_configured_one) {
    Fixture f;
    f.table.ban(cidr("2001:db8:7::/40"), kT0, kT0 + 100);
    BOOST_TEST(!f.table.banned(v6_member(1), rule(), kT0 + 1));  // sizes say /48
}

BOOST_AUTO_TEST_CASE(full_buckets_of_running_bans_refuse_never_evict) {
    Fixture f(8);  // one bucket of eight records
    PrefixRule r = rule();
    for (int n = 0; n < 8; ++n) {
        std::string p = "198.18." + std::to_string(n) + ".0/24";
        BOOST_TEST(f.table.ban(cidr(p.c_str()), kT0, kT0 + 100));
    }
    BOOST_TEST(!f.table.ban(cidr("198.18.99.0/24"), kT0, kT0 + 100));
    BOOST_TEST(f.table.note(v4("198.18.99.1"), kT0, 3, true, r).refused);
    for (int n = 0; n < 8; ++n) {
        std::string a = "198.18." + std::to_string(n) + ".9";
        BOOST_TEST(f.table.banned(v4(a.c_str()), r, kT0 + 1));
    }
    // Once they end, a new prefix takes the least recently active record.
    BOOST_TEST(f.table.ban(cidr("198.18.99.0/24"), kT0 + 200, kT0 + 300));
    BOOST_TEST(f.table.banned(v4("198.18.99.1"), r, kT0 + 201));
}

BOOST_AUTO_TEST_CASE(restore_and_unban_all) {
    Fixture f;
    SavedPrefix saved;
    saved.prefix = cidr("198.18.9.0/24");
    saved.ban_until = kT0 + 100;
    saved.banned_since = kT0 - 5;
    saved.times_banned = 3;
    BOOST_TEST(f.table.restore(saved, kT0));
    BOOST_TEST(f.table.restore(saved, kT0));  // twice is once
    BOOST_TEST(f.table.banned(v4("198.18.9.77"), rule(), kT0 + 1));
    BOOST_TEST(f.table.times_banned(saved.prefix) == 3u);
    std::size_t listed = 0;
    f.table.for_each(kT0, 600, [&](const PrefixView& view) {
        ++listed;
        BOOST_TEST(view.banned_until == kT0 + 100);
    });
    BOOST_TEST(listed == 1u);
    BOOST_TEST(f.table.unban_all(kT0 + 1) == 1u);
    BOOST_TEST(!f.table.banned(v4("198.18.9.77"), rule(), kT0 + 2));
}

BOOST_AUTO_TEST_CASE(never_cover_a_protected_address) {
    AddressSet protect = AddressSet::loopback();
    protect.add(cidr("198.18.4.1"));
    protect.add(cidr("2001:db8:7:5::/64"));
    protect.add(cidr("2001:db8:100::/40"));
    std::string why;
    BOOST_TEST(covers_protected(cidr("198.18.4.0/24"), protect, why));
    BOOST_TEST(why == "198.18.4.1/32");
    BOOST_TEST(!covers_protected(cidr("198.18.5.0/24"), protect, why));
    BOOST_TEST(covers_protected(cidr("2001:db8:7::/48"), protect, why));  // holds an ignored /64
    BOOST_TEST(
        covers_protected(cidr("2001:db8:100:7::/48"), protect, why));  // inside an ignored /40
    BOOST_TEST(!covers_protected(cidr("2001:db8:8::/48"), protect, why));
    BOOST_TEST(covers_protected(cidr("127.0.0.0/24"), protect, why));
    BOOST_TEST(!covers_protected(cidr("::/48"), AddressSet{}, why));
}

BOOST_AUTO_TEST_CASE(fold_releases_the_prefix_entries_of_the_window_table) {
    SharedRegion region(WindowTable::region_size(64));
    WindowTable table = WindowTable::attach(region.base(), region.size(), 64).first;
    WindowRule w{600, 3};
    for (unsigned n = 0; n < 20; ++n) {
        table.record(v6_member(n), kT0, 3, w);
        table.ban(v6_member(n), kT0, kT0 + 100, BanReason::AuthFailure);
    }
    table.record(*Address::parse("2001:db8:8::"), kT0, 1, w);
    table.record(v4("198.18.1.1"), kT0, 1, w);
    BOOST_TEST(table.stats(kT0).used == 22u);
    BOOST_TEST(table.fold(cidr("2001:db8:7::/48")) == 20u);
    auto stats = table.stats(kT0);
    BOOST_TEST(stats.used == 2u);
    BOOST_TEST(stats.banned == 0u);
    BOOST_TEST(table.audit() == "");
    // The others are still found where the bucket's compaction put them.
    BOOST_TEST(table.record(*Address::parse("2001:db8:8::"), kT0, 1, w).in_window == 2u);
    BOOST_TEST(table.record(v4("198.18.1.1"), kT0, 1, w).in_window == 2u);
    BOOST_TEST(table.fold(cidr("198.18.1.0/24")) == 1u);
    BOOST_TEST(table.audit() == "");
}

BOOST_AUTO_TEST_CASE(a_full_table_of_member_bans_is_freed_by_the_fold) {
    // The attack of the issue: one /48's /64s banned one by one fill the table until
    // records are refused; folding gives the room back.
    SharedRegion region(WindowTable::region_size(16));
    WindowTable table = WindowTable::attach(region.base(), region.size(), 16).first;
    WindowRule w{600, 3};
    for (unsigned n = 0; n < 200; ++n) {
        if (!table.record(v6_member(n), kT0, 3, w).refused) {
            table.ban(v6_member(n), kT0, kT0 + 100, BanReason::AuthFailure);
        }
    }
    BOOST_TEST(table.stats(kT0).banned == 16u);
    BOOST_TEST(table.record(v4("198.18.1.1"), kT0, 1, w).refused);
    table.fold(cidr("2001:db8:7::/48"));
    BOOST_TEST(!table.record(v4("198.18.1.1"), kT0, 1, w).refused);
    BOOST_TEST(table.audit() == "");
}

BOOST_AUTO_TEST_CASE(hostile_bytes_anywhere_never_crash_or_misplace) {
    Fixture f(64);
    PrefixRule r = rule();
    std::mt19937_64 random(7);
    auto* bytes = static_cast<unsigned char*>(f.region.base());
    for (int round = 0; round < 2000; ++round) {
        // Scribble anywhere past the mutex (a scribbled mutex is bounded by the wait).
        std::size_t at = 256 + random() % (f.region.size() - 256);
        bytes[at] = static_cast<unsigned char>(random());
        Address member = v6_member(static_cast<unsigned>(random() % 50));
        f.table.note(member, kT0 + round, 3, true, r);
        (void)f.table.banned(member, r, kT0 + round);
        if (round % 100 == 0) {
            f.table.ban(r.prefix_of(member), kT0 + round, kT0 + round + 10);
            f.table.for_each(kT0 + round, 600, [](const PrefixView&) {});
            (void)f.table.stats(kT0 + round);
        }
    }
    // A re-attach with the geometry it was made with reuses or reformats, never misreads.
    auto again = PrefixTable::attach(f.region.base(), f.region.size(), 64).first;
    BOOST_TEST(again.capacity() == 64u);
}

BOOST_AUTO_TEST_CASE(a_changed_header_is_reformatted) {
    Fixture f(64);
    f.table.ban(cidr("198.18.9.0/24"), kT0, kT0 + 100);
    BOOST_TEST((PrefixTable::attach(f.region.base(), f.region.size(), 64).second ==
                WindowTable::Attach::Reused));
    static_cast<unsigned char*>(f.region.base())[0] ^= 1;  // the magic
    auto [table, how] = PrefixTable::attach(f.region.base(), f.region.size(), 64);
    BOOST_TEST((how == WindowTable::Attach::Initialised));
    BOOST_TEST(!table.banned(v4("198.18.9.1"), rule(), kT0 + 1));
    BOOST_TEST(!PrefixTable::open(f.region.base(), 64).has_value());
}

namespace {
int g_ready = -1;
int g_hold = -1;
// Inside a record's write: the lock held, the seqlock odd, half of the fields stored.
void announce_and_block() {
    char mark = 'w';
    (void)!write(g_ready, &mark, 1);
    char never;
    (void)!read(g_hold, &never, 1);  // the parent never writes
    _exit(3);
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_writer_killed_inside_a_write_is_rolled_back_and_others_go_on) {
    Fixture f(64);
    Cidr prefix = cidr("198.18.7.0/24");
    int ready[2], hold[2];
    BOOST_REQUIRE(pipe(ready) == 0 && pipe(hold) == 0);
    pid_t writer = fork();
    if (writer == 0) {
        g_ready = ready[1];
        g_hold = hold[0];
        close(hold[1]);
        window_table_layout::set_write_hook(&announce_and_block);
        f.table.ban(prefix, kT0, kT0 + 600);  // ban_until is stored before the hook
        _exit(4);
    }
    close(hold[0]);
    pollfd p{ready[0], POLLIN, 0};
    BOOST_REQUIRE(poll(&p, 1, 10'000) == 1);
    BOOST_TEST(kill(writer, SIGKILL) == 0);
    int status = 0;
    BOOST_TEST(waitpid(writer, &status, 0) == writer);
    BOOST_TEST((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    // The next locker rolls the half-written record back: no ban, and notes go on.
    PrefixNote note = f.table.note(v4("198.18.7.1"), kT0 + 1, 3, true, rule());
    BOOST_TEST(!note.refused);
    BOOST_TEST(!note.banned);
    BOOST_TEST(!f.table.banned(v4("198.18.7.1"), rule(), kT0 + 2));
    BOOST_TEST(f.table.audit() == "");
    BOOST_TEST(f.table.ban(prefix, kT0 + 3, kT0 + 600));
    close(hold[1]);
    close(ready[0]);
    close(ready[1]);
}
