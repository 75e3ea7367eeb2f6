// The helper's and a ClusterNode's events, ignored but for the verdicts on the
// children's ban messages: for the tests that drive the real loop and channel.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "cluster_node.hpp"
#include "helper_loop.hpp"

namespace xmlrpcguard {

struct QuietEvents final : HelperEvents, ClusterNodeEvents {
    std::vector<HelperVerdict> verdicts;
    void message(HelperVerdict verdict, std::string_view) override { verdicts.push_back(verdict); }
    void reconciled(const BanHelper::Reconciled&, std::string_view) override {}
    void control_refused(uid_t) override {}
    void control_command(uid_t, std::string_view, std::string_view) override {}
    void control_dropped(uid_t) override {}
    void link_up() override {}
    void link_down(std::string_view) override {}
    void offences_dropped(std::uint64_t) override {}
    void entry(const ClusterEntry&, ClusterOutcome, std::string_view) override {}
    void report_refused(std::string_view) override {}
};

// A node whose Redis is not there: its link retries in its own threads, every 50 ms,
// and what the node accepts waits in the link's queue.
inline ClusterNodeSettings without_redis() {
    ClusterNodeSettings settings;
    settings.link.endpoint.host = "127.0.0.1";
    settings.link.endpoint.port = 1;
    settings.link.node = "me-1";
    settings.link.io_timeout = settings.link.block = std::chrono::milliseconds(50);
    settings.link.backoff_first = settings.link.backoff_max = std::chrono::milliseconds(50);
    return settings;
}

}  // namespace xmlrpcguard
