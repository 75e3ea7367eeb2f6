#include "control_socket.hpp"

#include <http_log.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "glue.hpp"

namespace xmlrpcguard::httpd {

int open_control_socket(const char* path, long admin_group, server_rec* s) noexcept {
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
    mode_t before = umask(0177);
    bool bound = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    umask(before);
    gid_t group = admin_group >= 0 ? static_cast<gid_t>(admin_group) : 0;
    mode_t mode = admin_group >= 0 ? 0660 : 0600;
    if (!bound || chown(path, 0, group) != 0 || chmod(path, mode) != 0 || listen(fd, 16) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s,
                     "XRG0215: cannot listen on the control socket %s: xmlrpcguardctl will not "
                     "reach this server",
                     path);
        close(fd);
        return -1;
    }
    return fd;
}

}  // namespace xmlrpcguard::httpd
