// XmlRpcGuardCluster's two costs that are not latency (tools/lib/bench_cluster.py
// measures that on three real nodes):
//   bench_cluster_link channel [ROUNDS]
//       what a request thread pays per offending answer when the server is in a
//       cluster: encoding and sending one 40-byte offence report on a datagram socket
//       pair with MSG_DONTWAIT (a reader thread drains it, as the helper does), against
//       the 32-byte ban message every ban already sends;
//   bench_cluster_link redis HOST PORT PASSWORD OFFENCES [ROUNDS]
//       the offences a second one helper's ClusterLink sustains to a real Redis: OFFENCES
//       reports over 65536 addresses (maxretry 20, so few crossings), offered at once;
//       the clock stops when Redis has taken all of them.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "cluster_link.hpp"
#include "xmlrpcguard/ban_request.hpp"
#include "xmlrpcguard/guard_counters.hpp"
#include "xmlrpcguard/offence_report.hpp"

using namespace xmlrpcguard;

namespace {

constexpr int kMessages = 200000;

// Sends in bursts of 256 (fewer than the socket's queue holds), each burst then read
// back untimed: only the sends are on the clock, as in a request thread, whose send
// never waits.
double send_all(const int ends[2], bool offence) {
    constexpr int kBurst = 256;
    Address key = *Address::parse("198.18.7.10");
    std::chrono::steady_clock::duration spent{};
    std::byte buffer[64];
    for (int done = 0; done < kMessages; done += kBurst) {
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < kBurst; ++i) {
            key.bytes[15] = static_cast<std::uint8_t>(i);
            if (offence) {
                auto message = encode(
                    offence_report(key, 64, 1, WindowRule{600, 3}, 3600, BanReason::AuthFailure));
                xrg_bench::keep(static_cast<std::uint64_t>(
                    send(ends[0], message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL)));
            } else {
                auto message = encode(BanRequest{key, 32, 3600});
                xrg_bench::keep(static_cast<std::uint64_t>(
                    send(ends[0], message.data(), message.size(), MSG_DONTWAIT | MSG_NOSIGNAL)));
            }
        }
        spent += std::chrono::steady_clock::now() - start;
        while (recv(ends[1], buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
        }
    }
    return std::chrono::duration<double>(spent).count() * 1e9 / kMessages;
}

int channel(int rounds) {
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, ends) != 0) {
        return 1;
    }
    int queue = 1 << 20;
    setsockopt(ends[1], SOL_SOCKET, SO_RCVBUF, &queue, sizeof queue);
    auto pair = xrg_bench::alternate(
        rounds, [&] { return send_all(ends, true); }, [&] { return send_all(ends, false); });
    xrg_bench::table_header("per offending answer (request thread)");
    xrg_bench::table_row("offence report: encode + send, 40 bytes (vs a ban message, 32 bytes)",
                         pair);
    return 0;
}

struct Quiet final : ClusterEvents {
    void link_up() override {}
    void link_down(std::string_view) override {}
    void offences_dropped(std::uint64_t) override {}
};

int redis(const char* host, int port, const char* password, int offences, int rounds) {
    std::size_t bytes = GuardCounters::region_size();
    std::unique_ptr<void, decltype(&std::free)> memory(std::aligned_alloc(64, bytes), &std::free);
    std::vector<double> rates;
    for (int round = 0; round < rounds; ++round) {
        std::memset(memory.get(), 0, bytes);
        GuardCounters counters = GuardCounters::attach(memory.get(), bytes);
        ClusterLinkSettings settings;
        settings.endpoint.host = host;
        settings.endpoint.port = port;
        settings.endpoint.password = password;
        settings.key_prefix = "xrgbench" + std::to_string(round) + ":";
        settings.node = "bench";
        settings.queue_limit = static_cast<std::size_t>(offences);
        Quiet quiet;
        ClusterLink link(settings, &counters, quiet);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!link.connected() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        auto start = std::chrono::steady_clock::now();
        Address key = *Address::parse("198.18.0.0");
        for (int i = 0; i < offences; ++i) {
            key.bytes[14] = static_cast<std::uint8_t>(i >> 8);
            key.bytes[15] = static_cast<std::uint8_t>(i);
            link.offer(
                offence_report(key, 64, 1, WindowRule{600, 20}, 3600, BanReason::AuthFailure));
        }
        auto sent = [&] {
            auto values = counters.read();
            return values[static_cast<std::size_t>(Counter::ClusterOffencesSent)] +
                   values[static_cast<std::size_t>(Counter::ClusterOffencesDropped)];
        };
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        while (sent() < static_cast<std::uint64_t>(offences) &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        double elapsed = xrg_bench::seconds_since(start);
        auto values = counters.read();
        rates.push_back(values[static_cast<std::size_t>(Counter::ClusterOffencesSent)] / elapsed);
        std::fprintf(stderr, "round %d: %.0f offences/s (%llu dropped)\n", round, rates.back(),
                     static_cast<unsigned long long>(
                         values[static_cast<std::size_t>(Counter::ClusterOffencesDropped)]));
    }
    auto s = xrg_bench::spread(rates);
    std::printf("\n| one helper to Redis | offences/s (median) | min-max | rounds |\n");
    std::printf("|---|---:|---:|---:|\n");
    std::printf(
        "| %d offences over 65536 addresses, batches of up to 512 per EVALSHA | %.0f | "
        "%.0f-%.0f | %d |\n",
        offences, s.median, s.min, s.max, rounds);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "channel") {
        return channel(argc > 2 ? std::atoi(argv[2]) : 7);
    }
    if (mode == "redis" && argc >= 6) {
        return redis(argv[2], std::atoi(argv[3]), argv[4], std::atoi(argv[5]),
                     argc > 6 ? std::atoi(argv[6]) : 5);
    }
    std::fprintf(stderr,
                 "usage: bench_cluster_link channel [ROUNDS] | redis HOST PORT PASSWORD OFFENCES "
                 "[ROUNDS]\n");
    return 2;
}
