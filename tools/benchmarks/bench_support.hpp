// What the benchmark programs share: a clock, rounds run A/B alternately, and one
// line of figures per measurement (median, min-max, ratio to a baseline measured in
// the same run), printed as a Markdown table row so docs/BENCHMARKS.md can quote it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace xrg_bench {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Keeps the optimiser from dropping work whose result nothing else reads.
inline void keep(std::uint64_t value) {
    static volatile std::uint64_t sink;
    sink = sink + value;
}

struct Spread {
    double median = 0, min = 0, max = 0;
};

inline Spread spread(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    std::size_t n = values.size();
    double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    return {median, values.front(), values.back()};
}

// Runs `rounds` rounds of b then a, alternately (so drift on a noisy machine hits both
// alike), each returning nanoseconds per operation.
struct Pair {
    Spread a, b;
};

inline Pair alternate(int rounds, const std::function<double()>& a,
                      const std::function<double()>& b) {
    std::vector<double> as, bs;
    for (int round = 0; round < rounds; ++round) {
        bs.push_back(b());
        as.push_back(a());
    }
    return {spread(as), spread(bs)};
}

inline void table_header(const char* what) {
    std::printf(
        "\n| %s | median ns/op | min-max ns/op | ops/s (median) | baseline ns/op | ratio |\n",
        what);
    std::printf("|---|---:|---:|---:|---:|---:|\n");
}

// `pair.a` is the measured thing, `pair.b` its baseline; ratio = a / b (lower is better).
inline void table_row(const std::string& name, const Pair& pair) {
    std::printf("| %s | %.1f | %.1f-%.1f | %.3g | %.1f | %.2fx |\n", name.c_str(), pair.a.median,
                pair.a.min, pair.a.max, 1e9 / pair.a.median, pair.b.median,
                pair.a.median / pair.b.median);
    std::fflush(stdout);
}

}  // namespace xrg_bench
