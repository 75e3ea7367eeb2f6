#include "helper_loop.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "xmlrpcguard/ban_request.hpp"
#include "xmlrpcguard/name_report.hpp"

namespace xmlrpcguard {

namespace {

constexpr std::string_view kRefusal =
    "error: permission denied (root or XmlRpcGuardControlGroup only; never httpd's User or "
    "Group)\n";

std::string_view first_line(std::string_view text) {
    return text.substr(0, text.find('\n'));
}

}  // namespace

HelperLoop::HelperLoop(BanHelper& helper, ControlService* control, const WindowTable* table,
                       HelperEvents& events, HelperLoopSettings settings, WallClock wall_seconds)
    : helper_(helper),
      control_(control),
      table_(table),
      events_(events),
      settings_(settings),
      wall_seconds_(std::move(wall_seconds)),
      next_reconcile_(Clock::now()),
      last_save_(Clock::now()) {}

void HelperLoop::save_now() {
    changed_ = false;
    last_save_ = Clock::now();
    if (save_) {
        save_();
    }
}

void HelperLoop::turn(std::chrono::milliseconds longest_wait) {
    std::vector<pollfd> watched;
    watched.push_back({settings_.channel_fd, POLLIN, 0});
    bool listening =
        control_ && settings_.control_fd >= 0 && clients_.size() < settings_.max_clients;
    watched.push_back({listening ? settings_.control_fd : -1, POLLIN, 0});
    watched.push_back({settings_.stop_fd, POLLIN, 0});
    watched.push_back({extension_ ? extension_->poll_fd() : -1, POLLIN, 0});
    constexpr std::size_t kFirstClient = 4;
    auto now = Clock::now();
    auto wake = std::min(now + longest_wait, next_reconcile_);
    if (save_) {
        wake = std::min(
            wake, last_save_ + (changed_ ? settings_.save_after_change : settings_.save_every));
    }
    for (const ControlConnection& client : clients_) {
        short events = client.state() == ControlConnection::State::Reading ? POLLIN : POLLOUT;
        watched.push_back({client.fd(), events, 0});
        wake = std::min(wake, client.deadline());
    }
    // Rounded up: a deadline less than a millisecond away must not make poll() spin.
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
    int ready = poll(watched.data(), watched.size(), static_cast<int>(std::max<long>(0, wait)));
    if (ready > 0) {
        if (watched[0].revents & POLLIN) {
            drain_channel();
        }
        if (watched[1].revents & POLLIN) {
            accept_clients();
        }
        if (watched[2].revents != 0) {
            stop_requested_ = true;
        }
        if (watched[3].revents & POLLIN) {
            changed_ = extension_->on_ready(wall_seconds_()) || changed_;
        }
        for (std::size_t i = kFirstClient; i < watched.size(); ++i) {
            // accept_clients() appended after the poll set was made: index by position.
            if (watched[i].revents != 0) {
                serve(clients_[i - kFirstClient]);
            }
        }
    }
    now = Clock::now();
    for (ControlConnection& client : clients_) {
        if (client.state() != ControlConnection::State::Done && now >= client.deadline()) {
            events_.control_dropped(client.uid());
            client.close_now();
        }
    }
    std::erase_if(clients_, [](const ControlConnection& client) {
        return client.state() == ControlConnection::State::Done;
    });
    if (table_ && now >= next_reconcile_) {
        next_reconcile_ = now + settings_.reconcile_every;
        if (extension_) {
            changed_ = extension_->on_tick(wall_seconds_()) || changed_;
        }
        std::string error;
        auto done = helper_.reconcile(*table_, wall_seconds_(), error);
        changed_ = changed_ || done.added > 0;
        events_.reconciled(done, error);
    }
    if (save_ && !stop_requested_) {
        now = Clock::now();
        auto due = last_save_ + (changed_ ? settings_.save_after_change : settings_.save_every);
        if (now >= due) {
            save_now();
        }
    }
}

// A bounded number per turn, so that a flood on the channel (over the rate ceiling
// anyway) cannot keep the control clients waiting.
void HelperLoop::drain_channel() {
    // One more byte than the longest message (a user-name report): a longer datagram
    // shows as too long, never as a well-formed one cut short.
    std::byte message[std::max<std::size_t>({kBanMessageSize, 64, kNameMessageSize}) + 1];
    for (std::size_t i = 0; i < settings_.max_messages_per_turn; ++i) {
        ssize_t length = recv(settings_.channel_fd, message, sizeof message, MSG_DONTWAIT);
        if (length < 0) {
            return;
        }
        std::span<const std::byte> datagram(message, static_cast<std::size_t>(length));
        if (extension_ && extension_->on_datagram(datagram, wall_seconds_())) {
            continue;
        }
        std::string error;
        auto verdict = helper_.on_message(
            std::span<const std::byte>(message, static_cast<std::size_t>(length)), wall_seconds_(),
            error);
        changed_ = changed_ || verdict == HelperVerdict::Added;
        events_.message(verdict, error);
    }
}

void HelperLoop::accept_clients() {
    while (clients_.size() < settings_.max_clients) {
        int fd = accept4(settings_.control_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            return;
        }
        ucred peer{};
        socklen_t length = sizeof peer;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
            !settings_.admission.admits(peer.uid, peer.gid)) {
            (void)!send(fd, kRefusal.data(), kRefusal.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            close(fd);
            events_.control_refused(peer.uid);
            continue;
        }
        clients_.emplace_back(fd, peer.uid, Clock::now() + settings_.client_time);
    }
}

void HelperLoop::serve(ControlConnection& client) {
    if (client.state() == ControlConnection::State::Writing) {
        client.write_some();
        return;
    }
    if (client.state() != ControlConnection::State::Reading || !client.read_some()) {
        return;
    }
    ControlCommand command = ControlCommand::parse(client.line());
    std::string answer;
    try {
        answer = control_->execute(command, wall_seconds_());
    } catch (const std::exception& e) {
        answer = std::string("error: ") + e.what() + "\n";
    }
    if (command.changes_state()) {
        events_.control_command(client.uid(), command.to_string(), first_line(answer));
        if (extension_) {
            extension_->on_command(command, answer, wall_seconds_());
        }
        save_now();  // at once: an unban must not come back from an older file after a crash
    }
    client.answer(std::move(answer));
}

}  // namespace xmlrpcguard
