#include "cluster_names.hpp"

#include <fcntl.h>
#include <http_log.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <string>

#include "cluster_node.hpp"
#include "config.hpp"
#include "exchange.hpp"
#include "helper_process.hpp"
#include "user_config.hpp"
#include "user_guard.hpp"
#include "user_shm.hpp"
#include "xmlrpcguard/name_report.hpp"

namespace xmlrpcguard::httpd {
namespace {

constexpr std::size_t kMaxSecret = 4096;

// The file's first line, when it is a regular file of root's that nobody else may read
// and the line holds at least kMinNameSecret bytes; else why not. `out` is wiped by the
// caller once the key is derived.
const char* read_secret(const char* path, char (&buffer)[kMaxSecret + 1], std::size_t& length) {
    length = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return "cannot be opened";
    }
    struct stat about {};
    bool safe = fstat(fd, &about) == 0 && S_ISREG(about.st_mode) && about.st_uid == 0 &&
                (about.st_mode & 077) == 0;
    ssize_t got = safe ? read(fd, buffer, kMaxSecret) : -1;
    close(fd);
    if (!safe) {
        return "it must be a regular file of root's that nobody else may read (chown root:root, "
               "chmod 0600)";
    }
    std::string_view text(buffer, static_cast<std::size_t>(std::max<ssize_t>(0, got)));
    length = std::min(text.size(), text.find_first_of("\r\n"));
    if (length < kMinNameSecret) {
        return "its first line must hold at least 32 bytes (e.g. head -c 32 /dev/urandom | "
               "base64)";
    }
    return nullptr;
}

// The helper's copy, read as root before the privileges go; never in a child.
std::optional<NameKey> g_fleet_key;

}  // namespace

const char* set_cluster_name_key(cmd_parms* cmd, void*, const char* value) {
    if (const char* error = ap_check_cmd_context(cmd, NOT_IN_VIRTUALHOST)) {
        return error;
    }
    if (value[0] != '/' || std::strlen(value) > 1000) {
        return refuse_value(cmd, value, "expected an absolute file path (at most 1000 bytes)");
    }
    // Read here (as root: httpd reads its configuration before it switches user) only
    // to refuse a file that cannot serve; what was read is wiped at once.
    char buffer[kMaxSecret + 1];
    std::size_t length = 0;
    const char* why = read_secret(value, buffer, length);
    explicit_bzero(buffer, sizeof buffer);
    if (why) {
        return refuse_value(cmd, value, why);
    }
    config_of(cmd->server).cluster_name_key = value;
    return nullptr;
}

void read_fleet_name_key(server_rec* s) noexcept {
    const ServerConfig& config = config_of(s);
    if (!config.cluster_url || !config.cluster_name_key) {
        return;
    }
    char buffer[kMaxSecret + 1];
    std::size_t length = 0;
    const char* why = read_secret(config.cluster_name_key, buffer, length);
    if (!why) {
        g_fleet_key = fleet_name_key(std::string_view(buffer, length));
    }
    explicit_bzero(buffer, sizeof buffer);
    if (why) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "XRG0412: cluster: XmlRpcGuardClusterNameKey %s not used: %s; user names "
                     "are locked per node only",
                     config.cluster_name_key, why);
    }
}

void enable_fleet_names(server_rec* main_server, ClusterNode& node) {
    auto table = shared_user_table();
    if (!g_fleet_key || !table) {
        return;
    }
    FleetNameSettings settings;
    settings.key = *g_fleet_key;
    for (server_rec* s = main_server; s; s = s->next) {
        const ServerConfig& c = config_of(s);
        if (c.mode == GuardMode::Off || c.users->enabled != 1) {
            continue;
        }
        UserRule rule = c.users->rule();
        bool known = std::any_of(settings.rules.begin(), settings.rules.end(), [&](auto& r) {
            return r.findtime == rule.findtime && r.maxretry == rule.maxretry &&
                   r.locktime == rule.locktime;
        });
        if (!known) {
            settings.rules.push_back(rule);
        }
    }
    if (settings.rules.empty()) {
        return;
    }
    std::size_t rules = settings.rules.size();
    node.enable_names(*table, std::move(settings));
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, main_server,
                 "XRG0413: cluster: user names counted and locked fleet-wide (%" APR_SIZE_T_FMT
                 " user rules)",
                 rules);
}

void report_name_failure(const GuardedExchange& exchange, std::string_view name,
                         std::uint64_t local_hash) noexcept {
    // Server-wide values, merged into every vhost: a node alone pays this one test.
    if (!exchange.config.cluster_url || !exchange.config.cluster_name_key || !exchange.users) {
        return;
    }
    try {
        NameFailureReport report;
        report.vhost_slot = static_cast<std::uint8_t>(exchange.users->vhost);
        report.vhost_id = user_vhost_id(exchange.r->server);
        report.local_hash = local_hash;
        report.rule = exchange.config.users->rule();
        report.folded = login_fold(name);
        send_name_failure(encode(report));
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, exchange.r,
                      "XRG0414: cluster: name report not sent: %s", e.what());
    } catch (...) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, exchange.r,
                      "XRG0414: cluster: name report not sent");
    }
}

}  // namespace xmlrpcguard::httpd
