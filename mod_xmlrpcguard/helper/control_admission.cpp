#include "control_admission.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <vector>

namespace xmlrpcguard {

namespace {

// The user's groups as login would give them: primary and supplementary.
bool member_of(uid_t uid, gid_t primary, gid_t group) {
    passwd entry{};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    if (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
        return false;
    }
    int count = 64;
    std::vector<gid_t> groups(static_cast<std::size_t>(count));
    if (getgrouplist(found->pw_name, primary, groups.data(), &count) < 0) {
        groups.resize(static_cast<std::size_t>(count));
        if (getgrouplist(found->pw_name, primary, groups.data(), &count) < 0) {
            return false;
        }
    }
    groups.resize(static_cast<std::size_t>(count));
    for (gid_t g : groups) {
        if (g == group) {
            return true;
        }
    }
    return false;
}

}  // namespace

bool ControlAdmission::admits(uid_t uid, gid_t gid) const {
    if (uid == 0) {
        return true;
    }
    if (uid == httpd_user || gid == httpd_group) {
        return false;
    }
    return admin_group && (gid == *admin_group || member_of(uid, gid, *admin_group));
}

}  // namespace xmlrpcguard
