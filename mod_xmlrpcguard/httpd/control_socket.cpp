#include "control_socket.hpp"

#include <apr_time.h>
#include <http_log.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <unixd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <string>

#include "glue.hpp"

namespace xmlrpcguard::httpd {
namespace {

constexpr int kClientTimeoutMs = 2000;
constexpr std::size_t kMaxCommand = 512;

bool wait_for(int fd, short events, int timeout_ms) {
    pollfd one{fd, events, 0};
    return poll(&one, 1, timeout_ms) > 0 && (one.revents & events);
}

bool write_all(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
        } else if (n < 0 && errno == EAGAIN && wait_for(fd, POLLOUT, kClientTimeoutMs)) {
            continue;
        } else {
            return false;
        }
    }
    return true;
}

// The command line, or empty if the client sent none in time.
std::string read_command(int fd) {
    std::string line;
    char buffer[256];
    while (line.size() < kMaxCommand && line.find('\n') == std::string::npos) {
        if (!wait_for(fd, POLLIN, kClientTimeoutMs)) {
            return {};
        }
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) {
            break;
        }
        line.append(buffer, static_cast<std::size_t>(n));
    }
    return line.substr(0, line.find('\n'));
}

// For the log line: printable ASCII only.
std::string printable(const std::string& text) {
    std::string out;
    for (char c : text.substr(0, 120)) {
        out += (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
    }
    return out;
}

bool changes_something(const std::string& command) {
    return command.rfind("ban", 0) == 0 || command.rfind("unban", 0) == 0 ||
           command.rfind("flush", 0) == 0;
}

}  // namespace

int open_control_socket(const char* path, server_rec* s) noexcept {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof address.sun_path) {
        return -1;  // the directive refuses such paths already
    }
    std::strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, "XRG0215: cannot make the control socket");
        return -1;
    }
    unlink(path);  // a stale socket of an earlier helper
    mode_t before = umask(0117);
    bool bound = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    umask(before);
    if (!bound || chown(path, 0, ap_unixd_config.group_id) != 0 || chmod(path, 0660) != 0 ||
        listen(fd, 16) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s,
                     "XRG0215: cannot listen on the control socket %s: xmlrpcguardctl will not "
                     "reach this server",
                     path);
        close(fd);
        return -1;
    }
    return fd;
}

void answer_control_client(int listener, ControlService& service, server_rec* s) noexcept {
    int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        return;
    }
    try {
        ucred peer{};
        socklen_t length = sizeof peer;
        bool allowed = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 &&
                       (peer.uid == 0 || peer.uid == ap_unixd_config.user_id);
        if (!allowed) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "XRG0216: control connection from uid %ld refused: only root and the "
                         "httpd User may control the guard",
                         static_cast<long>(peer.uid));
            write_all(fd, "error: permission denied (root or the httpd User only)\n");
        } else {
            std::string command = read_command(fd);
            std::string answer = service.execute(command, apr_time_sec(apr_time_now()));
            if (changes_something(command)) {
                ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "XRG0217: control (uid %ld): %s -> %s",
                             static_cast<long>(peer.uid), printable(command).c_str(),
                             answer.substr(0, answer.find('\n')).c_str());
            }
            write_all(fd, answer);
        }
    } catch (const std::exception& e) {
        write_all(fd, std::string("error: ") + e.what() + "\n");
    } catch (...) {
        write_all(fd, "error: internal\n");
    }
    close(fd);
}

}  // namespace xmlrpcguard::httpd
