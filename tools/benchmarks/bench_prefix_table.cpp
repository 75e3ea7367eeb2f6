// What prefix bans (XmlRpcGuardPrefixBan) add to the per-request deny check:
// WindowTable::banned() followed by PrefixTable::banned(), against banned() alone, in
// one run (alternating rounds, medians): with no prefix ever banned (the `armed` word
// answers) and with 1,000 running prefix bans. Then note() (once per offending answer)
// and fold() (once per prefix ban). See docs/BENCHMARKS.md.
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>

#include "bench_support.hpp"
#include "xmlrpcguard/prefix_table.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

// One process: plain 64-byte aligned memory stands in for the shared segment.
struct Region {
    explicit Region(std::size_t bytes)
        : base(std::aligned_alloc(64, (bytes + 63) / 64 * 64)), size((bytes + 63) / 64 * 64) {
        if (!base) {
            throw std::runtime_error("out of memory");
        }
    }
    ~Region() { std::free(base); }
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;
    void* base;
    std::size_t size;
};

// Addresses of 198.18.0.0/15 and /64s of 2001:db8::/32, alternately (test ranges only).
Address client(std::uint32_t n) {
    if (n % 2 == 0) {
        return Address::from_ipv4(0xC6120000u + (n / 2) % (1u << 17));
    }
    Address a = *Address::parse("2001:db8::");
    std::uint32_t big = n;
    std::memcpy(&a.bytes[4], &big, sizeof big);
    return a.masked(64);
}

// Nanoseconds per operation of `ops` operations done by `run`.
template <class Run>
double timed(std::size_t ops, Run&& run) {
    auto start = std::chrono::steady_clock::now();
    run();
    return xrg_bench::seconds_since(start) * 1e9 / static_cast<double>(ops);
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = argc > 2 && std::strcmp(argv[1], "--rounds") == 0 ? std::atoi(argv[2]) : 7;
    constexpr std::size_t kCapacity = 65536;
    constexpr std::size_t kLookups = 2'000'000;
    Region windows(WindowTable::region_size(kCapacity));
    WindowTable table = WindowTable::attach(windows.base, windows.size, kCapacity).first;
    Region records(PrefixTable::region_size(PrefixTable::kDefaultCapacity));
    PrefixTable prefixes =
        PrefixTable::attach(records.base, records.size, PrefixTable::kDefaultCapacity).first;
    PrefixRule rule;
    for (std::uint32_t n = 0; n < 50'000; ++n) {
        table.record(client(n), kNow - 10, 1, {600, 3});
    }
    std::mt19937 rng(1);
    std::vector<Address> lookups(kLookups);
    for (auto& a : lookups) {
        a = client(rng() % 100'000);
    }
    auto table_only = [&] {
        std::uint64_t hits = 0;
        double ns = timed(kLookups, [&] {
            for (const auto& a : lookups)
                hits += table.banned(a, kNow);
        });
        xrg_bench::keep(hits);
        return ns;
    };
    auto with_prefixes = [&] {
        std::uint64_t hits = 0;
        double ns = timed(kLookups, [&] {
            for (const auto& a : lookups)
                hits += table.banned(a, kNow) || prefixes.banned(a, rule, kNow);
        });
        xrg_bench::keep(hits);
        return ns;
    };
    xrg_bench::table_header(
        "The deny check of every request (baseline: WindowTable::banned() alone, 50,000 "
        "addresses held)");
    xrg_bench::table_row("banned() + PrefixTable::banned(), no prefix ever banned",
                         xrg_bench::alternate(rounds, with_prefixes, table_only));
    for (std::uint32_t n = 0; n < 1000; ++n) {
        prefixes.ban(rule.prefix_of(client(n * 131)), kNow - 10, kNow + 3600);
    }
    xrg_bench::table_row("banned() + PrefixTable::banned(), 1,000 prefixes banned",
                         xrg_bench::alternate(rounds, with_prefixes, table_only));

    // note(): once per offending answer; baseline record(), which it follows.
    constexpr std::size_t kNotes = 200'000;
    std::int64_t clock = kNow;
    auto notes = [&] {
        ++clock;
        std::uint64_t due = 0;
        double ns = timed(kNotes, [&] {
            for (std::size_t i = 0; i < kNotes; ++i)
                due += prefixes
                           .note(client(static_cast<std::uint32_t>(i % 7919) + 500'000), clock, 1,
                                 false, rule)
                           .due;
        });
        xrg_bench::keep(due);
        return ns;
    };
    auto records_only = [&] {
        ++clock;
        std::uint64_t reached = 0;
        double ns = timed(kNotes, [&] {
            for (std::size_t i = 0; i < kNotes; ++i)
                reached += table
                               .record(client(static_cast<std::uint32_t>(i % 7919) + 500'000),
                                       clock, 1, {600, 20})
                               .reached;
        });
        xrg_bench::keep(reached);
        return ns;
    };
    xrg_bench::table_header("Per offending answer (baseline: WindowTable::record())");
    xrg_bench::table_row("PrefixTable::note()", xrg_bench::alternate(rounds, notes, records_only));

    // fold(): once per prefix ban, a scan of the whole table (nothing to release here).
    Cidr none = *Cidr::parse("198.19.255.0/24");
    auto fold = [&] { return timed(1, [&] { xrg_bench::keep(table.fold(none)); }); };
    auto scan = [&] { return timed(1, [&] { xrg_bench::keep(table.stats(kNow).used); }); };
    xrg_bench::table_header(
        "Per prefix ban, 65,536 slots (baseline: WindowTable::stats(), one scan)");
    xrg_bench::table_row("WindowTable::fold()", xrg_bench::alternate(rounds, fold, scan));
    return 0;
}
