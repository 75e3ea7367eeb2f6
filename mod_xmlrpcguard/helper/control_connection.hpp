// One client of the control socket, as a small state machine the helper's loop drives
// without ever blocking on it: it reads one line, the command is executed, the answer
// is written, and the connection closes. The whole exchange has ONE deadline, set at
// accept: a client that sends a byte a second, or reads its answer slowly, is dropped
// at the deadline and costs the helper nothing meanwhile.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>

namespace xmlrpcguard {

class ControlConnection {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::size_t kMaxLine = 512;

    enum class State : unsigned char { Reading, Writing, Done };

    ControlConnection(int fd, uid_t uid, Clock::time_point deadline) noexcept
        : fd_(fd), uid_(uid), deadline_(deadline) {}
    ~ControlConnection();
    ControlConnection(ControlConnection&& other) noexcept;
    ControlConnection& operator=(ControlConnection&& other) noexcept;
    ControlConnection(const ControlConnection&) = delete;
    ControlConnection& operator=(const ControlConnection&) = delete;

    // Reads what is there. True once a whole line (or kMaxLine bytes, or the end of
    // the client's stream) is in: line() holds it, without its newline.
    bool read_some();
    const std::string& line() const noexcept { return line_; }
    // The answer to send; the state becomes Writing.
    void answer(std::string text);
    // Writes what the socket takes; Done when all is sent (or the client is gone).
    void write_some();
    void close_now() noexcept { state_ = State::Done; }

    State state() const noexcept { return state_; }
    int fd() const noexcept { return fd_; }
    uid_t uid() const noexcept { return uid_; }
    Clock::time_point deadline() const noexcept { return deadline_; }

  private:
    int fd_;
    uid_t uid_;
    Clock::time_point deadline_;
    State state_ = State::Reading;
    std::string line_;
    std::string out_;
    std::size_t sent_ = 0;
};

}  // namespace xmlrpcguard
