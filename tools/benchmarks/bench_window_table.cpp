// WindowTable against plain hash maps in private memory, side by side in one run:
//   banned() and record(), one process and two processes on the same keys;
//   --scale: a table of a million addresses (memory, insert and lookup rates, and a
//   two-process flood of new addresses that must evict without touching bans).
// Every figure is a median over alternating rounds; see docs/BENCHMARKS.md.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include "bench_support.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;
using xrg_bench::Pair;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;
constexpr WindowRule kRule{600, WindowTable::kMaxRetryLimit};

// Half IPv4 in 198.18.0.0/15, half distinct /64s of 2001:db8::/32 (test ranges only).
Address key(std::uint32_t n) {
    if (n % 2 == 0 && n / 2 < (1u << 17)) {
        return Address::from_ipv4(0xC6120000u + n / 2);
    }
    Address a = *Address::parse("2001:db8::1");
    std::uint32_t big = n + 1;
    std::memcpy(&a.bytes[4], &big, sizeof big);
    return a;
}

struct AddressHash {
    std::size_t operator()(const Address& a) const noexcept {
        std::uint64_t hi, lo;
        std::memcpy(&hi, a.bytes.data(), 8);
        std::memcpy(&lo, a.bytes.data() + 8, 8);
        std::uint64_t h = (hi ^ (lo * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
        return static_cast<std::size_t>(h ^ (h >> 31));
    }
};

// The baseline: what a single process would keep in private memory, no lock at all.
struct PrivateEntry {
    std::int64_t banned_until = 0;
    std::int64_t times[WindowTable::kMaxRetryLimit] = {};
    std::uint32_t next = 0;
};
using PrivateMap = std::unordered_map<Address, PrivateEntry, AddressHash>;

bool private_banned(const PrivateMap& map, const Address& a, std::int64_t now) {
    auto it = map.find(a);
    return it != map.end() && it->second.banned_until > now;
}

std::uint32_t private_record(PrivateMap& map, const Address& a, std::int64_t now) {
    PrivateEntry& e = map[a];
    e.times[e.next++ % WindowTable::kMaxRetryLimit] = now;
    std::uint32_t in_window = 0;
    for (std::int64_t t : e.times) {
        in_window += t > now - kRule.findtime;
    }
    return in_window;
}

class SharedMapping {
  public:
    explicit SharedMapping(std::size_t bytes) : bytes_(bytes) {
        base_ = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (base_ == MAP_FAILED) {
            throw std::runtime_error("mmap failed");
        }
    }
    ~SharedMapping() { munmap(base_, bytes_); }
    SharedMapping(const SharedMapping&) = delete;
    SharedMapping& operator=(const SharedMapping&) = delete;
    void* base() const { return base_; }
    std::size_t size() const { return bytes_; }

  private:
    void* base_;
    std::size_t bytes_;
};

std::vector<std::uint32_t> random_indices(std::size_t count, std::uint32_t below, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::uint32_t> pick(0, below - 1);
    std::vector<std::uint32_t> out(count);
    for (auto& i : out) {
        i = pick(rng);
    }
    return out;
}

std::vector<Address> keys_for(const std::vector<std::uint32_t>& indices) {
    std::vector<Address> out;
    out.reserve(indices.size());
    for (auto i : indices) {
        out.push_back(key(i));
    }
    return out;
}

double ns_per_op(std::size_t ops, const std::function<void()>& run) {
    auto start = std::chrono::steady_clock::now();
    run();
    return xrg_bench::seconds_since(start) * 1e9 / static_cast<double>(ops);
}

// Runs `body(worker)` in `workers` forked processes started together; returns the
// wall-clock nanoseconds per operation over all of them (`ops_each` per worker).
// Each worker prepares its private state in `prepare` before the start line.
struct Timeline {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::atomic<std::int64_t> first_start{INT64_MAX};
    std::atomic<std::int64_t> last_end{0};
};

std::int64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

double in_processes(int workers, std::size_t ops_each,
                    const std::function<std::function<void()>(int)>& prepare) {
    SharedMapping shared(sizeof(Timeline));
    auto* line = new (shared.base()) Timeline;
    std::vector<pid_t> pids;
    for (int w = 0; w < workers; ++w) {
        pid_t pid = fork();
        if (pid < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid == 0) {
            std::function<void()> body = prepare(w);
            line->ready.fetch_add(1);
            while (!line->go.load(std::memory_order_acquire)) {
            }
            std::int64_t start = monotonic_ns();
            std::int64_t seen = line->first_start.load();
            while (start < seen && !line->first_start.compare_exchange_weak(seen, start)) {
            }
            body();
            std::int64_t end = monotonic_ns();
            seen = line->last_end.load();
            while (end > seen && !line->last_end.compare_exchange_weak(seen, end)) {
            }
            _exit(0);
        }
        pids.push_back(pid);
    }
    while (line->ready.load() < workers) {
        usleep(100);
    }
    line->go.store(true, std::memory_order_release);
    for (pid_t pid : pids) {
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            throw std::runtime_error("a worker process failed");
        }
    }
    return static_cast<double>(line->last_end.load() - line->first_start.load()) /
           static_cast<double>(ops_each * static_cast<std::size_t>(workers));
}

void everyday(int rounds) {
    constexpr std::size_t kCapacity = 65536;
    constexpr std::uint32_t kKeys = 50'000;  // a busy site's worth of recent offenders
    constexpr std::size_t kLookups = 2'000'000;
    constexpr std::size_t kRecords = 500'000;

    SharedMapping region(WindowTable::region_size(kCapacity));
    auto table = WindowTable::attach(region.base(), region.size(), kCapacity).first;
    PrivateMap map;
    for (std::uint32_t n = 0; n < kKeys; ++n) {
        table.record(key(n), kNow - 10, 1, kRule);
        private_record(map, key(n), kNow - 10);
        if (n % 10 == 0) {  // a tenth of them banned
            table.ban(key(n), kNow - 10, kNow + 3600, BanReason::AuthFailure);
            map[key(n)].banned_until = kNow + 3600;
        }
    }
    // Lookups also ask about addresses never seen (most requests come from those).
    auto lookups = keys_for(random_indices(kLookups, kKeys * 2, 1));
    auto records = keys_for(random_indices(kRecords, kKeys, 2));

    xrg_bench::table_header(
        "WindowTable, 65,536 entries, 50,000 in use (baseline: std::unordered_map in private "
        "memory, no lock)");
    auto lookup_table = [&] {
        std::uint64_t hits = 0;
        double ns = ns_per_op(kLookups, [&] {
            for (const auto& a : lookups)
                hits += table.banned(a, kNow);
        });
        xrg_bench::keep(hits);
        return ns;
    };
    auto lookup_map = [&] {
        std::uint64_t hits = 0;
        double ns = ns_per_op(kLookups, [&] {
            for (const auto& a : lookups)
                hits += private_banned(map, a, kNow);
        });
        xrg_bench::keep(hits);
        return ns;
    };
    xrg_bench::table_row("banned(), 1 process",
                         xrg_bench::alternate(rounds, lookup_table, lookup_map));

    std::int64_t clock = kNow;
    auto record_table = [&] {
        std::uint64_t reached = 0;
        ++clock;
        double ns = ns_per_op(kRecords, [&] {
            for (const auto& a : records)
                reached += table.record(a, clock, 1, kRule).reached;
        });
        xrg_bench::keep(reached);
        return ns;
    };
    auto record_map = [&] {
        std::uint64_t total = 0;
        double ns = ns_per_op(kRecords, [&] {
            for (const auto& a : records)
                total += private_record(map, a, clock);
        });
        xrg_bench::keep(total);
        return ns;
    };
    xrg_bench::table_row("record(), 1 process",
                         xrg_bench::alternate(rounds, record_table, record_map));

    // Two processes on the same keys: the table is shared; the baseline is a private
    // map in each process (which is what "no sharing" would cost).
    auto two = [&](bool shared_table, bool lookup) {
        return [&, shared_table, lookup] {
            std::size_t ops = lookup ? kLookups : kRecords;
            return in_processes(
                2, ops, [&, shared_table, lookup](int worker) -> std::function<void()> {
                    // Each baseline worker's private copy, made before the start line.
                    auto* own = shared_table ? nullptr : new PrivateMap(map);
                    return [&, shared_table, lookup, own, worker] {
                        std::uint64_t acc = 0;
                        const auto& keys = lookup ? lookups : records;
                        std::int64_t now = kNow + 1000 + worker;
                        for (const auto& a : keys) {
                            if (shared_table) {
                                acc += lookup ? table.banned(a, now)
                                              : table.record(a, now, 1, kRule).reached;
                            } else {
                                acc += lookup ? private_banned(*own, a, now)
                                              : private_record(*own, a, now);
                            }
                        }
                        xrg_bench::keep(acc);
                    };
                });
        };
    };
    xrg_bench::table_row("banned(), 2 processes, same keys",
                         xrg_bench::alternate(rounds, two(true, true), two(false, true)));
    xrg_bench::table_row("record(), 2 processes, same keys",
                         xrg_bench::alternate(rounds, two(true, false), two(false, false)));
    auto stats = table.stats(kNow);
    std::printf("\nlock recoveries %llu, evictions %llu, audit: %s\n",
                static_cast<unsigned long long>(stats.lock_recoveries),
                static_cast<unsigned long long>(stats.evictions),
                table.audit().empty() ? "clean" : table.audit().c_str());
}

void scale(int rounds) {
    constexpr std::size_t kCapacity = 1'000'000;
    constexpr std::uint32_t kBans = 10'000;
    constexpr std::uint32_t kFloodEach = 1'000'000;
    std::size_t bytes = WindowTable::region_size(kCapacity);
    std::printf(
        "\n### A million addresses\n\nregion_size(%zu) = %zu bytes (%.1f MiB), %.1f bytes per "
        "address\n",
        kCapacity, bytes, static_cast<double>(bytes) / (1 << 20),
        static_cast<double>(bytes) / static_cast<double>(kCapacity));

    SharedMapping region(bytes);
    auto table = WindowTable::attach(region.base(), region.size(), kCapacity).first;
    PrivateMap map;
    map.reserve(kCapacity);
    std::vector<Address> all = keys_for([&] {
        std::vector<std::uint32_t> v(kCapacity);
        for (std::uint32_t i = 0; i < kCapacity; ++i)
            v[i] = i;
        return v;
    }());
    double insert_table = ns_per_op(kCapacity, [&] {
        for (const auto& a : all)
            table.record(a, kNow, 1, kRule);
    });
    double insert_map = ns_per_op(kCapacity, [&] {
        for (const auto& a : all)
            private_record(map, a, kNow);
    });
    std::printf(
        "\n| a million addresses | table ns/op | private map ns/op | ratio "
        "|\n|---|---:|---:|---:|\n");
    std::printf(
        "| first record() of each of 1,000,000 addresses (1 process) | %.1f | %.1f | %.2fx |\n",
        insert_table, insert_map, insert_table / insert_map);

    auto lookups = keys_for(random_indices(2'000'000, kCapacity, 3));
    auto pair = xrg_bench::alternate(
        rounds,
        [&] {
            std::uint64_t hits = 0;
            double ns = ns_per_op(lookups.size(), [&] {
                for (const auto& a : lookups)
                    hits += table.banned(a, kNow);
            });
            xrg_bench::keep(hits);
            return ns;
        },
        [&] {
            std::uint64_t hits = 0;
            double ns = ns_per_op(lookups.size(), [&] {
                for (const auto& a : lookups)
                    hits += private_banned(map, a, kNow);
            });
            xrg_bench::keep(hits);
            return ns;
        });
    std::printf(
        "| banned(), random addresses among 1,000,000 (median of %d) | %.1f | %.1f | %.2fx |\n",
        rounds, pair.a.median, pair.b.median, pair.a.median / pair.b.median);

    for (std::uint32_t n = 0; n < kBans; ++n) {
        table.ban(all[n * 97], kNow, kNow + 86400, BanReason::AuthFailure);
    }
    // Two processes each bring a million addresses never seen: the full table must
    // evict unbanned entries only.
    double flood = in_processes(2, kFloodEach, [&](int worker) -> std::function<void()> {
        return [&, worker] {
            for (std::uint32_t i = 0; i < kFloodEach; ++i) {
                table.record(key(static_cast<std::uint32_t>(kCapacity) +
                                 static_cast<std::uint32_t>(worker) * kFloodEach + i),
                             kNow + 1, 1, kRule);
            }
        };
    });
    std::uint32_t kept = 0;
    for (std::uint32_t n = 0; n < kBans; ++n) {
        kept += table.banned(all[n * 97], kNow + 2);
    }
    auto stats = table.stats(kNow + 2);
    std::printf(
        "| flood: 2 processes x 1,000,000 new addresses into the full table | %.1f | - | - |\n",
        flood);
    std::printf(
        "\nafter the flood: %u of %u bans still in place, %llu evictions, %llu records refused, "
        "%zu entries in use, audit: %s\n",
        kept, kBans, static_cast<unsigned long long>(stats.evictions),
        static_cast<unsigned long long>(stats.refused_full), stats.used,
        table.audit().empty() ? "clean" : table.audit().c_str());
    if (kept != kBans) {
        std::printf("FAIL: the flood evicted bans\n");
        std::exit(1);
    }
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 7;
    bool with_scale = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--scale") == 0) {
            with_scale = true;
        } else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = std::max(1, std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: %s [--rounds N] [--scale]\n", argv[0]);
            return 2;
        }
    }
    try {
        everyday(rounds);
        if (with_scale) {
            scale(rounds);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_window_table: %s\n", e.what());
        return 1;
    }
}
