#include "control_connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace xmlrpcguard {

ControlConnection::~ControlConnection() {
    if (fd_ >= 0) {
        close(fd_);
    }
}

ControlConnection::ControlConnection(ControlConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      uid_(other.uid_),
      deadline_(other.deadline_),
      state_(other.state_),
      line_(std::move(other.line_)),
      out_(std::move(other.out_)),
      sent_(other.sent_) {}

ControlConnection& ControlConnection::operator=(ControlConnection&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            close(fd_);
        }
        fd_ = std::exchange(other.fd_, -1);
        uid_ = other.uid_;
        deadline_ = other.deadline_;
        state_ = other.state_;
        line_ = std::move(other.line_);
        out_ = std::move(other.out_);
        sent_ = other.sent_;
    }
    return *this;
}

bool ControlConnection::read_some() {
    char buffer[256];
    for (;;) {
        ssize_t n = recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno != EAGAIN && errno != EWOULDBLOCK;  // an error ends the line
        }
        if (n == 0) {
            return true;  // the client ended its stream: what came is the line
        }
        line_.append(buffer, static_cast<std::size_t>(n));
        if (auto end = line_.find('\n'); end != std::string::npos) {
            line_.resize(end);
            return true;
        }
        if (line_.size() >= kMaxLine) {
            line_.resize(kMaxLine);
            return true;
        }
    }
}

void ControlConnection::answer(std::string text) {
    out_ = std::move(text);
    sent_ = 0;
    state_ = State::Writing;
    write_some();
}

void ControlConnection::write_some() {
    while (state_ == State::Writing && sent_ < out_.size()) {
        ssize_t n =
            send(fd_, out_.data() + sent_, out_.size() - sent_, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent_ += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;  // the loop comes back when the socket takes more
        } else {
            state_ = State::Done;  // the client is gone
        }
    }
    if (sent_ >= out_.size()) {
        state_ = State::Done;
    }
}

}  // namespace xmlrpcguard
