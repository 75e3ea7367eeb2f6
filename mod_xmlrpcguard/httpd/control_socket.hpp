// The ban helper's control socket, where tools/xmlrpcguardctl talks to the running
// server: a Unix stream socket owned by root and XmlRpcGuardControlGroup, mode 0660
// (0600 without such a group), so httpd's User and Group cannot even connect. The
// helper's loop (helper/helper_loop.cpp) checks each peer's credentials again and
// serves the clients.
#pragma once

#include <httpd.h>

namespace xmlrpcguard::httpd {

// Creates and listens on `path` (a stale socket there is replaced). Run as root,
// before the helper drops its privileges. Returns the listening fd (non-blocking) or
// -1 (logged). `admin_group` < 0: root only.
int open_control_socket(const char* path, long admin_group, server_rec* s) noexcept;

}  // namespace xmlrpcguard::httpd
