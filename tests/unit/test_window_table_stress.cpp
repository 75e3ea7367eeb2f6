// WindowTable across processes: forked children on one MAP_SHARED mapping, and a
// child SIGKILLed in the middle of a write.
#define BOOST_TEST_MODULE window_table_stress
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "../../mod_xmlrpcguard/core/window_table_layout.hpp"
#include "test_window_table_support.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;
using xrg_test::SharedRegion;
using xrg_test::test_address;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;
constexpr std::uint32_t kLimit = WindowTable::kMaxRetryLimit;
constexpr WindowRule kForever{UINT32_MAX, kLimit};  // every offence stays in the window

class Pipe {
  public:
    Pipe() {
        if (pipe(fd_) != 0) {
            throw std::runtime_error("pipe failed");
        }
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    int read_end() const { return fd_[0]; }
    int write_end() const { return fd_[1]; }
    void close_read() {
        if (fd_[0] >= 0) {
            close(fd_[0]);
            fd_[0] = -1;
        }
    }
    void close_write() {
        if (fd_[1] >= 0) {
            close(fd_[1]);
            fd_[1] = -1;
        }
    }

    // Reads one value, waiting at most `timeout`; false on timeout or EOF.
    template <class T>
    bool read_within(T& value, std::chrono::milliseconds timeout) const {
        pollfd p{fd_[0], POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
            return false;
        }
        return read(fd_[0], &value, sizeof value) == static_cast<ssize_t>(sizeof value);
    }

  private:
    int fd_[2];
};

template <class Body>
pid_t fork_child(Body&& body) {
    pid_t pid = fork();
    if (pid == 0) {
        int rc = 1;
        try {
            rc = body();
        } catch (...) {
        }
        _exit(rc);
    }
    return pid;
}

// Waits for a child to end, at most `timeout`; its exit status, or -1.
int wait_child(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        pollfd none{};
        poll(&none, 0, 5);  // a bounded pause between polls of the child's state
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

constexpr int kChildren = 4;
constexpr std::uint32_t kPool = 256;     // addresses every child records (overlapping)
constexpr std::uint32_t kBanned = 32;    // banned before the fork, never touched
constexpr std::uint32_t kFlapping = 16;  // banned and unbanned by two children
constexpr int kOpsPerChild = 200'000;

Address pool_address(std::uint32_t i) {
    return test_address(i);
}
Address banned_address(std::uint32_t i) {
    return test_address(10'000 + i);
}
Address flapping_address(std::uint32_t i) {
    return test_address(20'000 + i);
}

// What the children write back; one row each, in a shared mapping.
struct ChildReport {
    std::array<std::uint64_t, kPool> recorded;
    std::uint64_t wrong_banned_answers;
    std::uint64_t inconsistent_views;
    std::uint64_t refused;
    std::uint64_t ops;
};

int hammer(WindowTable table, int child, ChildReport& report) {
    std::mt19937 rng(static_cast<std::uint32_t>(child) * 7919u + 1u);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    for (int op = 0; op < kOpsPerChild; ++op) {
        if (op % 1024 == 0 && std::chrono::steady_clock::now() > deadline) {
            break;
        }
        std::int64_t now = kT0 + op / 1000;
        std::uint32_t dice = rng() % 100;
        if (dice < 60) {
            std::uint32_t a = rng() % kPool;
            std::uint32_t count = 1 + rng() % 3;
            RecordOutcome outcome = table.record(pool_address(a), now, count, kForever);
            if (outcome.refused) {
                ++report.refused;
            } else {
                report.recorded[a] += count;
            }
        } else if (dice < 85) {
            if (!table.banned(banned_address(rng() % kBanned), now)) {
                ++report.wrong_banned_answers;
            }
            if (table.banned(pool_address(rng() % kPool), now)) {
                ++report.wrong_banned_answers;
            }
        } else if (dice < 95) {
            Address flap = flapping_address(rng() % kFlapping);
            if (child < 2) {
                if (rng() % 2) {
                    table.ban(flap, now, now + 1000, BanReason::Manual);
                } else {
                    table.unban(flap, now);
                }
            } else {
                table.banned(flap, now);  // either answer; it must just not hang
            }
        } else if (op % 50 == 0) {
            // Listing while others write: every view is one consistent entry.
            table.for_each(now, kForever.findtime, [&](const EntryView& view) {
                bool ok = view.in_window == std::min(view.offences, kLimit);
                report.inconsistent_views += ok ? 0 : 1;
            });
        }
        ++report.ops;
    }
    return 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(forked_processes_conserve_counts_and_leave_no_torn_entry) {
    constexpr std::size_t kCapacity = 4096;
    SharedRegion region(WindowTable::region_size(kCapacity));
    SharedRegion reports(sizeof(ChildReport) * kChildren);
    WindowTable table = WindowTable::attach(region.base(), region.size(), kCapacity).first;
    for (std::uint32_t i = 0; i < kBanned; ++i) {
        BOOST_REQUIRE(table.ban(banned_address(i), kT0, kT0 + 1'000'000, BanReason::Manual));
    }

    std::vector<pid_t> children;
    for (int c = 0; c < kChildren; ++c) {
        children.push_back(
            fork_child([&, c] { return hammer(table, c, reports.as<ChildReport>()[c]); }));
    }
    for (pid_t pid : children) {
        BOOST_TEST(wait_child(pid, std::chrono::seconds(60)) == 0);
    }

    std::array<std::uint64_t, kPool> expected{};
    std::uint64_t total = 0;
    std::uint64_t ops = 0;
    for (int c = 0; c < kChildren; ++c) {
        const ChildReport& r = reports.as<ChildReport>()[c];
        BOOST_TEST(r.wrong_banned_answers == 0u);
        BOOST_TEST(r.inconsistent_views == 0u);
        BOOST_TEST(r.refused == 0u);
        ops += r.ops;
        for (std::uint32_t a = 0; a < kPool; ++a) {
            expected[a] += r.recorded[a];
            total += r.recorded[a];
        }
    }
    BOOST_TEST_MESSAGE(ops << " operations by " << kChildren << " processes");
    BOOST_TEST(ops > 10'000u);

    std::map<std::uint32_t, EntryView> seen;
    table.for_each(kT0 + 100, kForever.findtime, [&](const EntryView& view) {
        for (std::uint32_t a = 0; a < kPool; ++a) {
            if (view.address == pool_address(a)) {
                seen.emplace(a, view);
            }
        }
    });
    for (std::uint32_t a = 0; a < kPool; ++a) {
        if (expected[a] == 0) {
            continue;
        }
        BOOST_REQUIRE(seen.count(a));
        BOOST_TEST(seen.at(a).offences == expected[a], "address " << a);
        BOOST_TEST(seen.at(a).in_window == std::min<std::uint64_t>(expected[a], kLimit));
    }
    TableStats stats = table.stats(kT0 + 100);
    BOOST_TEST(stats.offences == total);
    BOOST_TEST(stats.evictions == 0u);
    BOOST_TEST(stats.lock_recoveries == 0u);
    for (std::uint32_t i = 0; i < kBanned; ++i) {
        BOOST_TEST(table.banned(banned_address(i), kT0 + 100));
    }
    BOOST_TEST(table.audit() == "");
}

namespace {
int g_ready_fd = -1;
int g_hold_fd = -1;

// Runs inside the entry write, stripe held, seqlock odd, half of the fields stored.
void announce_and_block() {
    char mark = 'w';
    (void)!write(g_ready_fd, &mark, 1);
    char never;
    (void)!read(g_hold_fd, &never, 1);  // the parent never writes; EOF only if it died
    _exit(3);
}
}  // namespace

BOOST_AUTO_TEST_CASE(process_killed_inside_a_write_is_rolled_back_and_others_go_on) {
    constexpr std::size_t kCapacity = 64;
    SharedRegion region(WindowTable::region_size(kCapacity));
    WindowTable table = WindowTable::attach(region.base(), region.size(), kCapacity).first;
    Address victim = pool_address(1);
    table.record(victim, kT0, 5, kForever);

    Pipe ready;
    Pipe hold;
    pid_t writer = fork_child([&] {
        g_ready_fd = ready.write_end();
        g_hold_fd = hold.read_end();
        hold.close_write();
        window_table_layout::set_write_hook(&announce_and_block);
        // A ban stores ban_until before the hook: only a roll-back takes it away again.
        table.ban(victim, kT0 + 1, kT0 + 1000, BanReason::Manual);
        return 4;  // not reached: the hook blocks
    });
    char mark = 0;
    BOOST_REQUIRE(ready.read_within(mark, std::chrono::seconds(10)));
    BOOST_TEST(mark == 'w');

    // The writer sits in the critical section. Another process wants the same entry.
    Pipe result;
    pid_t follower = fork_child([&] {
        RecordOutcome outcome = table.record(victim, kT0 + 2, 1, kForever);
        return write(result.write_end(), &outcome.in_window, sizeof outcome.in_window) ==
                       static_cast<ssize_t>(sizeof outcome.in_window)
                   ? 0
                   : 1;
    });
    // Addresses of other buckets are not held up meanwhile (a lookup that meets the
    // held entry itself would wait for the lock, i.e. for the kill).
    const auto& header = *region.as<window_table_layout::RegionHeader>();
    window_table_layout::Shape shape;
    shape.buckets = header.buckets;
    shape.hash_seed = header.hash_seed;
    auto bucket = [&](const Address& a) {
        std::uint64_t half[2];
        std::memcpy(half, a.bytes.data(), sizeof half);
        return window_table_layout::bucket_of(shape, half[0], half[1]);
    };
    int looked_up = 0;
    for (std::uint32_t i = 100; i < 164; ++i) {
        if (bucket(test_address(i)) != bucket(victim)) {
            BOOST_TEST(!table.banned(test_address(i), kT0));
            BOOST_TEST(!table.record(test_address(i), kT0, 1, kForever).refused);
            ++looked_up;
        }
    }
    BOOST_TEST(looked_up > 32);

    BOOST_TEST(kill(writer, SIGKILL) == 0);
    BOOST_TEST(wait_child(writer, std::chrono::seconds(10)) == 128 + SIGKILL);

    std::uint32_t in_window = 0;
    BOOST_REQUIRE(result.read_within(in_window, std::chrono::seconds(10)));
    BOOST_TEST(wait_child(follower, std::chrono::seconds(10)) == 0);
    // The killed ban was rolled back (it would also have cleared the window): 5 offences
    // before it, 1 by the follower, and no ban.
    BOOST_TEST(in_window == 6u);
    BOOST_TEST(!table.banned(victim, kT0 + 3));
    BOOST_TEST(table.record(victim, kT0 + 3, 1, kForever).in_window == 7u);
    TableStats stats = table.stats(kT0 + 3);
    BOOST_TEST(stats.lock_recoveries == 1u);
    BOOST_TEST(stats.offences == 7u + static_cast<unsigned>(looked_up));
    BOOST_TEST(table.audit() == "");
}

BOOST_AUTO_TEST_CASE(a_reader_meeting_a_dead_writer_repairs_instead_of_spinning) {
    constexpr std::size_t kCapacity = 8;
    SharedRegion region(WindowTable::region_size(kCapacity));
    WindowTable table = WindowTable::attach(region.base(), region.size(), kCapacity).first;
    Address victim = pool_address(2);
    table.ban(victim, kT0, kT0 + 100, BanReason::Manual);

    Pipe ready;
    Pipe hold;
    pid_t writer = fork_child([&] {
        g_ready_fd = ready.write_end();
        g_hold_fd = hold.read_end();
        hold.close_write();
        window_table_layout::set_write_hook(&announce_and_block);
        table.unban(victim, kT0 + 1);
        return 4;
    });
    char mark = 0;
    BOOST_REQUIRE(ready.read_within(mark, std::chrono::seconds(10)));
    BOOST_TEST(kill(writer, SIGKILL) == 0);
    BOOST_TEST(wait_child(writer, std::chrono::seconds(10)) == 128 + SIGKILL);

    // The entry was left mid-write (odd sequence); the lookup must still answer, with
    // the value from before the killed unban.
    auto start = std::chrono::steady_clock::now();
    BOOST_TEST(table.banned(victim, kT0 + 2));
    BOOST_TEST((std::chrono::steady_clock::now() - start < std::chrono::seconds(5)));
    BOOST_TEST(table.stats(kT0 + 2).lock_recoveries == 1u);
    BOOST_TEST(table.audit() == "");
    BOOST_TEST(table.unban(victim, kT0 + 3));
}
