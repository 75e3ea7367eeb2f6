// The ban helper's event loop, apart from httpd: one thread, one poll() over the
// children's channel, the control socket and its clients, and a reconcile from the
// shared table every second. Nothing in it blocks on a peer: the channel is read
// without waiting, each control client is a ControlConnection with one deadline, and
// a refused client is closed at once. So no slow or hostile peer delays a ban.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "control_admission.hpp"
#include "control_connection.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/control.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

// What the loop tells its owner (the httpd glue logs it).
class HelperEvents {
  public:
    virtual void message(HelperVerdict verdict, std::string_view error) = 0;
    virtual void reconciled(const BanHelper::Reconciled& done, std::string_view error) = 0;
    virtual void control_refused(uid_t uid) = 0;
    // A command that changes state, as parsed and executed, and its answer's first line.
    virtual void control_command(uid_t uid, std::string_view command, std::string_view answer) = 0;
    virtual void control_dropped(uid_t uid) = 0;  // its deadline passed

  protected:
    ~HelperEvents() = default;
};

// A duty the loop carries besides its own (the cluster link, XmlRpcGuardCluster):
// datagrams of the children's channel that are not ban messages, one descriptor the
// loop polls, and the operator's state-changing commands once executed.
class HelperExtension {
  public:
    // True when the datagram was the extension's (it judges it itself).
    virtual bool on_datagram(std::span<const std::byte> datagram, std::int64_t now) = 0;
    virtual int poll_fd() const = 0;  // -1: none
    // True when it changed the bans (the loop then saves the state soon, as for its own).
    virtual bool on_ready(std::int64_t now) = 0;
    virtual void on_command(const ControlCommand& command, std::string_view answer,
                            std::int64_t now) = 0;
    // Once a second, with the reconcile: work the extension keeps for later (bans
    // deferred by the rate ceiling). True when it changed the bans.
    virtual bool on_tick(std::int64_t now) {
        (void)now;
        return false;
    }

  protected:
    ~HelperExtension() = default;
};

struct HelperLoopSettings {
    int channel_fd = -1;  // datagrams from the children
    int control_fd = -1;  // a listening socket, or -1
    ControlAdmission admission;
    std::chrono::milliseconds client_time{2000};  // one deadline per control client
    std::size_t max_clients = 8;
    std::size_t max_messages_per_turn = 4096;
    std::chrono::milliseconds reconcile_every{1000};
    // Readable when the helper must stop (a signalfd for SIGTERM in the helper), or -1.
    int stop_fd = -1;
    // The state file: saved this soon after a change the helper made or saw (a new
    // kernel ban, an operator's command), and at least this often anyway (offences and
    // httpd-only bans change the table without passing through the helper).
    std::chrono::milliseconds save_after_change{2000};
    std::chrono::milliseconds save_every{60000};
};

class HelperLoop {
  public:
    using WallClock = std::function<std::int64_t()>;

    // `control` and `table` may be null (no control socket; no table to reconcile).
    HelperLoop(BanHelper& helper, ControlService* control, const WindowTable* table,
               HelperEvents& events, HelperLoopSettings settings, WallClock wall_seconds);

    // Waits at most `longest_wait` for something to do, and does it.
    void turn(std::chrono::milliseconds longest_wait);

    std::size_t clients() const noexcept { return clients_.size(); }

    // Called to save the state (from turn(), on the schedule of the settings) and by
    // save_now(). No saver: nothing is saved.
    void set_saver(std::function<void()> save) { save_ = std::move(save); }
    void save_now();

    // At most one; null: none. Not owned.
    void set_extension(HelperExtension* extension) { extension_ = extension; }

    // stop_fd became readable: the owner saves and exits.
    bool stop_requested() const noexcept { return stop_requested_; }

  private:
    using Clock = std::chrono::steady_clock;

    void drain_channel();
    void accept_clients();
    void serve(ControlConnection& client);

    BanHelper& helper_;
    ControlService* control_;
    const WindowTable* table_;
    HelperEvents& events_;
    HelperLoopSettings settings_;
    WallClock wall_seconds_;
    std::vector<ControlConnection> clients_;
    Clock::time_point next_reconcile_;
    std::function<void()> save_;
    HelperExtension* extension_ = nullptr;
    bool changed_ = false;
    bool stop_requested_ = false;
    Clock::time_point last_save_;
};

}  // namespace xmlrpcguard
