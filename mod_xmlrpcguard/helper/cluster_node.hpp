// This node as one of a fleet (XmlRpcGuardCluster), as the helper's loop sees it: the
// children's offence reports go to the link, the stream's entries come back through
// the applier, the operator's ban, unban and flush go out to the others, and the
// last entry applied is kept in a small file beside the state file so that a
// restarted helper reads on from there.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cluster_apply.hpp"
#include "cluster_link.hpp"
#include "fleet_names.hpp"
#include "helper_loop.hpp"
#include "offence_admission.hpp"
#include "xmlrpcguard/guard_counters.hpp"

namespace xmlrpcguard {

class ClusterNodeEvents : public ClusterEvents {
  public:
    virtual void entry(const ClusterEntry& entry, ClusterOutcome outcome, std::string_view why) = 0;
    virtual void report_refused(std::string_view why) = 0;

  protected:
    ~ClusterNodeEvents() = default;
};

struct ClusterNodeSettings {
    ClusterLinkSettings link;
    // Where the last entry applied is kept (empty: nowhere). The owner reads it back
    // with load_resume() into link.resume_from before it makes the node.
    std::string resume_file;
    // The stream bans that waited over the ceiling when it was written (load_resume's
    // `kept`): judged again and kept at the node's first turn.
    std::string kept_bans;
    std::uint32_t default_bantime = 86400;  // an operator's ban without a duration
    // Which children's reports go to Redis (the rules of the reporting vhosts), how fast.
    OffenceAdmissionSettings reports;
    // The ceilings on what the stream may do here (lifts; bans kept over the rate).
    ClusterApplierLimits limits;
    // Stream entries judged per turn of the loop: the channel and the control clients
    // are served between two shares, however much Redis sends.
    std::size_t entries_per_turn = 256;
};

class ClusterNode final : public HelperExtension {
  public:
    ClusterNode(ClusterNodeSettings settings, WindowTable table, BanHelper& helper,
                GuardCounters* counters, ClusterNodeEvents& events);
    ~ClusterNode();

    bool on_datagram(std::span<const std::byte> datagram, std::int64_t now) override;
    int poll_fd() const override { return link_->ready_fd(); }
    bool on_ready(std::int64_t now) override;
    void on_command(const ControlCommand& command, std::string_view answer,
                    std::int64_t now) override;
    bool on_tick(std::int64_t now) override;

    void save_resume();

    // Fleet-wide user-name locks (XmlRpcGuardClusterNameKey): the children's name reports
    // go to the link, the stream's lock entries into `table`. Without it both are refused.
    void enable_names(UserTable table, FleetNameSettings settings);

    // The stream id in `path`, if it is a root-owned file nobody else may write and its
    // first line is one well-formed id; else empty. The lines after it (the kept bans,
    // read up to a bound fitting deferred_limit of them) go to `kept`, unjudged.
    static std::string load_resume(const std::string& path, std::string* kept = nullptr);
    // "host-1a2b3c4d": the host name and a random tag, new at each helper start.
    static std::string make_node_name();

  private:
    ClusterNodeSettings settings_;
    BanHelper& helper_;
    GuardCounters* counters_;
    ClusterNodeEvents& events_;
    ClusterApplier applier_;
    OffenceAdmission admission_;
    std::unique_ptr<FleetNames> names_;
    std::string last_id_;
    std::size_t kept_saved_ = 0;  // the applier's queue length when last saved
    bool unsaved_ = false;
    std::chrono::steady_clock::time_point saved_at_;
    std::unique_ptr<ClusterLink> link_;  // last: its threads stop first
};

}  // namespace xmlrpcguard
