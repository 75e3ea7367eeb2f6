// The ban helper's control socket, where tools/xmlrpcguardctl talks to the running
// server: a Unix stream socket, mode 0660, owned by root and httpd's Group, and on
// each connection a peer-credential check (root or httpd's User only). One command
// line in, the answer out, then the helper closes the connection.
#pragma once

#include <httpd.h>

#include "xmlrpcguard/control.hpp"

namespace xmlrpcguard::httpd {

// Creates and listens on `path` (a stale socket there is replaced). Run as root,
// before the helper drops its privileges. Returns the listening fd or -1 (logged).
int open_control_socket(const char* path, server_rec* s) noexcept;

// Accepts one waiting connection on `listener` and answers it. Never blocks for
// long: a client that does not send its line within two seconds is dropped.
void answer_control_client(int listener, ControlService& service, server_rec* s) noexcept;

}  // namespace xmlrpcguard::httpd
