// Who may use the control socket. Root, and the members of one administrators' group
// (XmlRpcGuardControlGroup); never httpd's User, nor a process whose group is httpd's
// Group: on Debian PHP runs as both, so a hole in any plugin would otherwise be able
// to lift bans. Decided from the peer credentials the kernel gives (SO_PEERCRED).
#pragma once

#include <sys/types.h>

#include <optional>

namespace xmlrpcguard {

struct ControlAdmission {
    uid_t httpd_user = 0;
    gid_t httpd_group = 0;
    std::optional<gid_t> admin_group;

    bool admits(uid_t uid, gid_t gid) const;
};

}  // namespace xmlrpcguard
