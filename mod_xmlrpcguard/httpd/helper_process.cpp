#include "helper_process.hpp"

#include <apr_thread_proc.h>
#include <grp.h>
#include <http_core.h>
#include <http_log.h>
#include <linux/securebits.h>
#include <poll.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unixd.h>

#include <ap_mpm.h>

#include <fcntl.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster_names.hpp"
#include "cluster_node.hpp"
#include "config.hpp"
#include "control_socket.hpp"
#include "glue.hpp"
#include "helper_loop.hpp"
#include "prefix_config.hpp"
#include "prefix_guard.hpp"
#include "state_file.hpp"
#include "table_shm.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/ban_key.hpp"
#include "xmlrpcguard/control.hpp"
#include "xmlrpcguard/ipset_sink.hpp"
#include "xmlrpcguard/prefix_ban_helper.hpp"
#include "xmlrpcguard/status_report.hpp"

namespace xmlrpcguard::httpd {
namespace {

// A helper that cannot work (no capability, no ipset support) says why and exits
// with this; the parent then leaves it down instead of restarting it in a loop.
constexpr int kExitDoNotRestart = 78;  // EX_CONFIG
// Helper deaths within this many seconds of their start count as failing starts;
// after kMaxQuickDeaths in a row the parent gives up until the next restart.
constexpr apr_time_t kQuickDeath = apr_time_from_sec(5);
constexpr int kMaxQuickDeaths = 3;
constexpr int kChannelFd = 3;  // the helper's end of the socket pair, in the helper
constexpr int kControlFd = 4;  // the control socket's listener, in the helper (if any)

// Written by the parent at post_config, before any child of this generation exists;
// read-only afterwards (children inherit the values through fork).
struct Helper {
    pid_t owner = 0;  // the httpd parent: only it may stop the helper
    apr_pool_t* pool = nullptr;
    server_rec* main_server = nullptr;
    int child_end = -1;                  // children send here
    int helper_end = -1;                 // the helper receives here
    const char* control_path = nullptr;  // removed by the parent when the helper stops
    apr_proc_t process{};
    bool running = false;
    apr_time_t started_at = 0;
    int quick_deaths = 0;
    // The next helper fills the table from the state file: only the first of this
    // httpd process (the table is new then); later ones find the table as it was.
    bool load_state = false;
};

// Kept in httpd's retained data, which lives as long as the shared table does (the
// process pool): set once the first helper was told to load the state file.
constexpr const char* kStateLoadedKey = "xmlrpcguard-state-loaded";
Helper g_helper;

std::int64_t wall_seconds() {
    return apr_time_sec(apr_time_now());
}

void reset_signals() {
    for (int signal_number : {SIGTERM, SIGHUP, SIGUSR1, SIGWINCH, SIGINT, SIGCHLD, SIGALRM}) {
        signal(signal_number, SIG_DFL);
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Root, with CAP_NET_ADMIN as its only capability and no way to get another back.
// The helper keeps uid 0 on purpose: httpd's User (on Debian also PHP's) may then
// neither signal it, nor trace it, nor read its memory, and it is not dumpable either
// (OpenSSH's and mod_cgid's daemons stand apart from their workers the same way).
const char* drop_privileges() {
    if (setgroups(0, nullptr) != 0)
        return "setgroups";
    if (setgid(0) != 0)
        return "setgid(0)";
    // Only capabilities in the bounding set can ever be had again: keep one.
    for (int capability = 0; capability <= CAP_LAST_CAP; ++capability) {
        if (capability != CAP_NET_ADMIN && prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 &&
            errno != EINVAL) {
            return "prctl(PR_CAPBSET_DROP)";
        }
    }
    // uid 0 gains no capability by exec, nor by setuid tricks; locked so.
    if (prctl(PR_SET_SECUREBITS,
              SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED,
              0, 0, 0) != 0)
        return "prctl(PR_SET_SECUREBITS)";
    cap_t caps = cap_init();
    if (!caps)
        return "cap_init";
    cap_value_t wanted[] = {CAP_NET_ADMIN};
    bool ok = cap_set_flag(caps, CAP_PERMITTED, 1, wanted, CAP_SET) == 0 &&
              cap_set_flag(caps, CAP_EFFECTIVE, 1, wanted, CAP_SET) == 0 && cap_set_proc(caps) == 0;
    cap_free(caps);
    if (!ok)
        return "cap_set_proc(CAP_NET_ADMIN)";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return "prctl(PR_SET_NO_NEW_PRIVS)";
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return "prctl(PR_SET_DUMPABLE)";
    return nullptr;
}

// Keeps a flood of bad messages from flooding the log: the first few, then one in
// a thousand.
bool worth_logging(std::uint64_t& seen) {
    ++seen;
    return seen <= 10 || seen % 1000 == 0;
}

void warn_if_unenforced(IpsetSink& sink, server_rec* s) {
    for (const std::string* set : {&sink.ipv4_set(), &sink.ipv6_set()}) {
        std::string error;
        auto references = sink.references(*set, error);
        if (references && *references == 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "XRG0203: no firewall rule references ipset %s: bans are recorded but "
                         "NOT enforced by the kernel; run `xmlrpcguard-firewall install` (or: "
                         "%s -I INPUT -m set --match-set %s src -j DROP)",
                         set->c_str(), set == &sink.ipv4_set() ? "iptables" : "ip6tables",
                         set->c_str());
        }
    }
}

// Read at every start of the helper, so at every graceful restart too.
HelperSettings settings_of(const ServerConfig& config) {
    HelperSettings settings;
    settings.never_ban = AddressSet::local_addresses();
    const auto* blocks = reinterpret_cast<const Cidr*>(config.ignore->elts);
    for (int i = 0; i < config.ignore->nelts; ++i) {
        settings.never_ban.add(blocks[i]);
    }
    settings.ipv6_prefix = static_cast<unsigned>(config.ipv6_prefix);
    return settings;
}

// The helper loop's events, as log lines.
class LoggedEvents final : public HelperEvents {
  public:
    explicit LoggedEvents(server_rec* s) : s_(s) {}

    void message(HelperVerdict verdict, std::string_view error) override {
        if (verdict == HelperVerdict::Added) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s_,
                         "XRG0214: kernel ban added (from a child's message)");
        } else if (verdict == HelperVerdict::Malformed && worth_logging(malformed_)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                         "XRG0205: malformed message to the ban helper (%" APR_UINT64_T_FMT
                         " so far)",
                         malformed_);
        } else if (verdict == HelperVerdict::Protected && worth_logging(protected_)) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s_,
                         "XRG0206: ban of a protected address (loopback, the server's own or "
                         "XmlRpcGuardIgnoreIP) refused");
        } else if (verdict == HelperVerdict::OverRate && worth_logging(over_rate_)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                         "XRG0207: ban rate ceiling reached; the table still holds the bans "
                         "(%" APR_UINT64_T_FMT " deferred so far)",
                         over_rate_);
        } else if (verdict == HelperVerdict::Failed && worth_logging(failed_)) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s_, "XRG0208: ipset add failed: %.*s",
                         static_cast<int>(error.size()), error.data());
        }
    }

    void reconciled(const BanHelper::Reconciled& done, std::string_view error) override {
        if (done.added) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s_,
                         "XRG0209: %" APR_SIZE_T_FMT " bans re-added from the table", done.added);
        }
        if (done.deferred && worth_logging(over_rate_)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                         "XRG0207: ban rate ceiling reached while reconciling: %" APR_SIZE_T_FMT
                         " bans of the table wait for the next pass",
                         done.deferred);
        }
        if (done.failed && worth_logging(failed_)) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s_,
                         "XRG0208: ipset add failed while reconciling: %.*s",
                         static_cast<int>(error.size()), error.data());
        }
    }

    void control_refused(uid_t uid) override {
        if (worth_logging(refused_)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                         "XRG0216: control connection from uid %ld refused: only root and "
                         "XmlRpcGuardControlGroup may control the guard, never httpd's User or "
                         "Group",
                         static_cast<long>(uid));
        }
    }

    void control_command(uid_t uid, std::string_view command, std::string_view answer) override {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s_, "XRG0217: control (uid %ld): %.*s -> %.*s",
                     static_cast<long>(uid), static_cast<int>(command.size()), command.data(),
                     static_cast<int>(answer.size()), answer.data());
    }

    void control_dropped(uid_t uid) override {
        if (worth_logging(dropped_)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                         "XRG0218: control client (uid %ld) dropped: no command and answer "
                         "within its deadline",
                         static_cast<long>(uid));
        }
    }

  private:
    server_rec* s_;
    std::uint64_t malformed_ = 0, protected_ = 0, over_rate_ = 0, failed_ = 0, refused_ = 0,
                  dropped_ = 0;
};

ControlAdmission admission_of(const ServerConfig& config) {
    ControlAdmission admission;
    admission.httpd_user = ap_unixd_config.user_id;
    admission.httpd_group = ap_unixd_config.group_id;
    if (config.control_group >= 0) {
        admission.admin_group = static_cast<gid_t>(config.control_group);
    }
    return admission;
}

// The state file's directory, made root's own (0700) if it is missing, while the
// helper still has every capability. Only its last component: its parent is the
// system's (/var/lib/apache2 on Debian). Whether it is safe is checked at each use.
void prepare_state_directory(const char* state_file) {
    if (!state_file || !*state_file) {
        return;
    }
    std::string path(state_file);
    auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) {
        mkdir(path.substr(0, slash).c_str(), 0700);  // EEXIST is the usual answer
    }
}

// SIGTERM (the parent's stop_helper, or its death through PR_SET_PDEATHSIG) as a
// readable descriptor, so that the loop sees it between two turns and the state is
// saved before the helper exits; -1 leaves the default (exit at once).
int stop_signal_fd() {
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &term, nullptr) != 0) {
        return -1;
    }
    int fd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        sigprocmask(SIG_UNBLOCK, &term, nullptr);
    }
    return fd;
}

// The longest XmlRpcGuardFindTime of any server: open windows younger than it are kept.
std::uint32_t longest_findtime(server_rec* main_server) {
    std::int64_t longest = 0;
    for (server_rec* s = main_server; s; s = s->next) {
        longest = std::max(longest, config_of(s).findtime);
    }
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(longest, 0, UINT32_MAX));
}

void log_loaded(server_rec* s, const StateFile& file, const StateFile::Loaded& loaded) {
    const char* path = file.path().c_str();
    switch (loaded.outcome) {
        case StateFile::Outcome::Restored:
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "XRG0219: state restored from %s (written %s): %" APR_SIZE_T_FMT
                         " entries, %" APR_SIZE_T_FMT " bans still running, %" APR_SIZE_T_FMT
                         " left out",
                         path, utc_time(loaded.written_at).c_str(), loaded.restored, loaded.bans,
                         loaded.skipped);
            break;
        case StateFile::Outcome::Missing:
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                         "XRG0219: no state file at %s: starting with an empty table", path);
            break;
        case StateFile::Outcome::Rejected:
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         "XRG0220: state file %s is unusable (%s): %s%s; starting with an empty "
                         "table",
                         path, loaded.why.c_str(),
                         loaded.moved_to.empty() ? "could not be moved aside" : "moved aside to ",
                         loaded.moved_to.c_str());
            break;
        case StateFile::Outcome::Unsafe:
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         "XRG0221: state file %s not read: %s (httpd's User must not be able to "
                         "plant bans); starting with an empty table",
                         path, loaded.why.c_str());
            break;
        case StateFile::Outcome::Failed:
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         "XRG0222: state file %s cannot be read (%s): starting with an empty "
                         "table",
                         path, loaded.why.c_str());
            break;
    }
}

// XmlRpcGuardCluster's events, as log lines (XRG0401-XRG0408). Called from the
// link's threads too: ap_log_error writes one line with one write().
class ClusterLog final : public ClusterNodeEvents {
  public:
    ClusterLog(server_rec* s, std::string where) : s_(s), where_(std::move(where)) {}

    void link_up() override {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s_, "XRG0401: cluster: connected to Redis %s",
                     where_.c_str());
    }
    void link_down(std::string_view why) override {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                     "XRG0402: cluster: disconnected from Redis %s (%.*s): this node bans on its "
                     "own windows meanwhile, and retries",
                     where_.c_str(), static_cast<int>(why.size()), why.data());
    }
    void offences_dropped(std::uint64_t total) override {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                     "XRG0403: cluster: offence queue full while Redis is away: %" APR_UINT64_T_FMT
                     " oldest offences dropped so far (local windows still ban)",
                     total);
    }
    void entry(const ClusterEntry& entry, ClusterOutcome outcome, std::string_view why) override {
        std::string text = describe(entry);
        if (lift_or_kept(entry, outcome, text, why)) {
            return;
        }
        if (outcome == ClusterOutcome::Applied || outcome == ClusterOutcome::Unchanged ||
            outcome == ClusterOutcome::Expired || outcome == ClusterOutcome::Skipped) {
            ap_log_error(APLOG_MARK, outcome == ClusterOutcome::Applied ? APLOG_INFO : APLOG_DEBUG,
                         0, s_, "XRG0404: cluster: %s -> %s", text.c_str(), to_string(outcome));
        } else if (worth_logging(refused_)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                         "XRG0405: cluster: stream entry refused: %s -> %s (%.*s)", text.c_str(),
                         to_string(outcome), static_cast<int>(why.size()), why.data());
        }
    }
    void report_refused(std::string_view why) override {
        if (worth_logging(reports_)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                         "XRG0406: cluster: offence report from a child refused (%.*s)",
                         static_cast<int>(why.size()), why.data());
        }
    }

  private:
    // Said above info, so that they are seen with the usual LogLevel: an unban or flush
    // from Redis applied (XRG0411) or refused by the ceiling on lifts (XRG0409), and a
    // ban kept over the ban rate ceiling (XRG0410).
    bool lift_or_kept(const ClusterEntry& entry, ClusterOutcome outcome, const std::string& text,
                      std::string_view why) {
        std::string_view op = entry.field("op");
        bool lift = op == "unban" || op == "flush";  // a fleet lock of a name lifts nothing
        if (outcome == ClusterOutcome::LiftOverRate || outcome == ClusterOutcome::Deferred) {
            bool kept = outcome == ClusterOutcome::Deferred;
            std::uint64_t& seen = kept ? deferred_ : lifts_refused_;
            if (worth_logging(seen)) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s_,
                             "%s: %s (%.*s; %" APR_UINT64_T_FMT " so far)",
                             kept ? "XRG0410: cluster: stream ban kept for later"
                                  : "XRG0409: cluster: lift from the stream refused",
                             text.c_str(), static_cast<int>(why.size()), why.data(), seen);
            }
            return true;
        }
        if (lift && outcome == ClusterOutcome::Applied) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s_,
                         "XRG0411: cluster: bans lifted by a stream entry: %s", text.c_str());
            return true;
        }
        return false;
    }

    // The entry's fields, escaped: they come from Redis, which anyone with its password
    // may write.
    static std::string describe(const ClusterEntry& entry) {
        std::string out = "id=" + entry.id;
        for (const auto& [name, value] : entry.fields) {
            out += ' ';
            for (char c : name + "=" + value) {
                bool plain = c > 0x20 && c < 0x7f && c != '\\' && c != '"';
                if (plain) {
                    out += c;
                } else {
                    char hex[5];
                    std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
                    out += hex;
                }
            }
        }
        return out;
    }

    server_rec* s_;
    std::string where_;
    std::uint64_t refused_ = 0, reports_ = 0;
    std::uint64_t lifts_refused_ = 0, deferred_ = 0;
};

// The rules the children of a reporting vhost put in their offence reports
// (exchange.cpp, report_to_cluster): the only ones the helper passes on to Redis.
std::vector<OffenceRule> reporting_rules(server_rec* main_server) {
    std::vector<OffenceRule> rules;
    for (server_rec* s = main_server; s; s = s->next) {
        const ServerConfig& c = config_of(s);
        if (c.mode != GuardMode::On || c.kernel_ban == 0) {
            continue;
        }
        OffenceRule rule{c.rule().findtime, c.rule().maxretry,
                         static_cast<std::uint32_t>(c.bantime),
                         static_cast<unsigned>(c.ipv6_prefix)};
        if (std::find(rules.begin(), rules.end(), rule) == rules.end()) {
            rules.push_back(rule);
        }
    }
    return rules;
}

// The longest XmlRpcGuardBanTime (or BanTimeMax, with the increment) of any server:
// a node with no stream position reads back that far, so that no running ban is missed.
std::uint32_t longest_bantime(server_rec* main_server) {
    std::int64_t longest = 0;
    for (server_rec* s = main_server; s; s = s->next) {
        const ServerConfig& c = config_of(s);
        longest = std::max({longest, c.bantime, c.ban_increment == 1 ? c.ban_max : 0});
    }
    return static_cast<std::uint32_t>(std::clamp<std::int64_t>(longest, 1, UINT32_MAX));
}

// Read as full root, before the privileges go: the file may be root's 0600.
std::string g_cluster_password;

void read_cluster_password(server_rec* s) {
    const char* path = config_of(s).cluster_password_file;
    if (!path) {
        return;
    }
    // Whoever holds it may write the fleet's stream (lift bans on every node): a file
    // httpd's User could read, or replace, is not used.
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat about {};
    char buffer[512] = {};
    ssize_t length = -1;
    bool safe = fd >= 0 && fstat(fd, &about) == 0 && S_ISREG(about.st_mode) && about.st_uid == 0 &&
                (about.st_mode & 077) == 0;
    if (safe) {
        length = read(fd, buffer, sizeof buffer - 1);
    }
    if (fd >= 0) {
        close(fd);
    }
    std::string_view text(buffer, static_cast<std::size_t>(std::max<ssize_t>(0, length)));
    text = text.substr(0, text.find_first_of("\r\n"));
    if (!safe || text.empty()) {
        ap_log_error(APLOG_MARK, APLOG_ERR, fd < 0 ? errno : 0, s,
                     "XRG0407: cluster: XmlRpcGuardClusterPasswordFile %s not used: %s; the "
                     "node bans alone until Redis accepts it",
                     path,
                     fd < 0  ? "cannot be opened"
                     : !safe ? "it must be a regular file of root's that nobody else may read "
                               "(chown root:root, chmod 0600)"
                             : "empty");
        return;
    }
    g_cluster_password = text;
}

std::unique_ptr<ClusterNode> start_cluster(server_rec* s, WindowTable table, BanHelper& helper,
                                           std::unique_ptr<ClusterLog>& log) {
    const ServerConfig& config = config_of(s);
    std::string why;
    auto endpoint = parse_redis_url(config.cluster_url, why);
    if (!endpoint) {
        return nullptr;  // configtest refused it already
    }
    if (!g_cluster_password.empty()) {
        endpoint->password = g_cluster_password;
    }
    ClusterNodeSettings settings;
    settings.link.endpoint = *endpoint;
    settings.link.key_prefix = config.cluster_prefix;
    settings.link.node = ClusterNode::make_node_name();
    settings.link.catch_up_seconds = longest_bantime(s);
    if (config.state_file && *config.state_file) {
        settings.resume_file = std::string(config.state_file) + ".cluster";
    }
    settings.default_bantime = static_cast<std::uint32_t>(config.bantime);
    settings.reports.rules = reporting_rules(s);
    std::string where = endpoint->host + ":" + std::to_string(endpoint->port) + "/" +
                        std::to_string(endpoint->db) + " prefix " + config.cluster_prefix +
                        " as node " + settings.link.node;
    log = std::make_unique<ClusterLog>(s, where);
    if (!settings.resume_file.empty()) {
        settings.link.resume_from =
            ClusterNode::load_resume(settings.resume_file, &settings.kept_bans);
        if (auto kept = std::count(settings.kept_bans.begin(), settings.kept_bans.end(), '\n')) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "XRG0415: cluster: %ld stream bans kept over the rate ceiling before "
                         "the restart, judged again and applied as the ceiling allows",
                         static_cast<long>(kept));
        }
    }
    const std::string& resume = settings.link.resume_from;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "XRG0408: cluster: node %s, Redis %s:%d, reading the ban stream from %s",
                 settings.link.node.c_str(), endpoint->host.c_str(), endpoint->port,
                 resume.empty() ? "the start of the longest bantime" : resume.c_str());
    return std::make_unique<ClusterNode>(std::move(settings), table, helper, shared_counters(),
                                         *log);
}

[[noreturn]] void serve(server_rec* s, pid_t parent, bool has_control, bool load_state,
                        int stop_fd) {
    const ServerConfig& config = config_of(s);
    IpsetSink sink(config.ipset4, config.ipset6);
    std::string error;
    if (!sink.create_sets(static_cast<std::size_t>(config.table_size), error)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "XRG0202: cannot create ipsets %s/%s (%s): bans stay in-process only",
                     config.ipset4, config.ipset6, error.c_str());
        _exit(kExitDoNotRestart);
    }
    warn_if_unenforced(sink, s);
    BanHelper helper(sink, settings_of(config));
    // Prefix bans: their own hash:net sets and judgement, reached through the helper.
    std::optional<IpsetSink> prefix_sink;
    std::optional<PrefixBanHelper> prefix_helper;
    auto prefixes = shared_prefixes();
    attach_prefix_bans(s, settings_of(config).never_ban, prefixes ? &*prefixes : nullptr, helper,
                       prefix_sink, prefix_helper);
    auto table = shared_table();
    std::optional<ControlService> control;
    if (has_control && table) {
        ControlSettings settings;
        settings.rule = config.rule();
        settings.bantime = static_cast<std::uint32_t>(config.bantime);
        control.emplace(*table, helper, shared_counters(), settings);
        control->set_ban_policy(config.ban_policy());
        if (prefixes) {
            control->set_prefixes(*prefixes, prefix_rule(config));
        }
    }
    HelperLoopSettings settings;
    settings.channel_fd = kChannelFd;
    settings.control_fd = control ? kControlFd : -1;
    settings.admission = admission_of(config);
    settings.stop_fd = stop_fd;
    LoggedEvents events(s);
    HelperLoop loop(helper, control ? &*control : nullptr, table ? &*table : nullptr, events,
                    settings, wall_seconds);
    std::unique_ptr<ClusterLog> cluster_log;
    std::unique_ptr<ClusterNode> cluster;
    if (table && config.cluster_url) {
        cluster = start_cluster(s, *table, helper, cluster_log);
        if (cluster) {
            enable_fleet_names(s, *cluster);
        }
        loop.set_extension(cluster.get());
    }
    std::optional<StateFile> state;
    if (table && config.state_file && *config.state_file) {
        state.emplace(config.state_file);
        if (load_state) {
            // Before the first reconcile, which then puts the restored bans into the kernel.
            log_loaded(s, *state, state->load(*table, wall_seconds()));
            load_prefix_state(s);
        }
        std::uint32_t window = longest_findtime(s);
        loop.set_saver([&state, &table, window, s, failures = std::uint64_t{0}]() mutable {
            save_prefix_state(s);
            auto saved = state->save(*table, wall_seconds(), window);
            if (saved.ok) {
                ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                             "XRG0224: state saved to %s: %" APR_SIZE_T_FMT " entries",
                             state->path().c_str(), saved.entries);
            } else if (worth_logging(failures)) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                             "XRG0223: cannot save the state to %s (%s): bans will not survive "
                             "a stop of httpd",
                             state->path().c_str(), saved.error.c_str());
            }
        });
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 "XRG0204: ban helper %" APR_PID_T_FMT " ready: ipsets %s %s", getpid(),
                 config.ipset4, config.ipset6);
    while (!loop.stop_requested() && getppid() == parent) {  // else httpd stops or is gone
        loop.turn(std::chrono::seconds(1));
    }
    loop.save_now();
    cluster.reset();  // its threads joined, its stream position saved
    _exit(0);
}

[[noreturn]] void helper_main(server_rec* s, int channel, pid_t parent, bool load_state) {
    reset_signals();
    if (dup2(channel, kChannelFd) != kChannelFd) {
        _exit(1);
    }
    bool has_control = false;
    if (g_helper.control_path) {  // made as root, before the privileges go
        int listener = open_control_socket(g_helper.control_path, config_of(s).control_group, s);
        has_control = listener >= 0 && dup2(listener, kControlFd) == kControlFd;
    }
    close_range(has_control ? kControlFd + 1 : kChannelFd + 1, ~0U,
                0);                                    // listeners, logs, the parent's ends
    prepare_state_directory(config_of(s).state_file);  // as full root, before the drop
    read_cluster_password(s);
    read_fleet_name_key(s);
    if (const char* failed_step = drop_privileges()) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s,
                     "XRG0202: ban helper cannot keep CAP_NET_ADMIN (%s): bans stay "
                     "in-process only",
                     failed_step);
        _exit(kExitDoNotRestart);
    }
    int stop_fd = stop_signal_fd();    // before the death signal can come
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // after setuid, which clears it
    try {
        serve(s, parent, has_control, load_state, stop_fd);
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "XRG0210: ban helper stopped: %s", e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "XRG0210: ban helper stopped");
    }
    _exit(1);
}

void maintain(int reason, void* data, int status);

bool spawn() {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, g_helper.main_server,
                     "XRG0211: cannot fork the ban helper");
        return false;
    }
    if (pid == 0) {
        helper_main(g_helper.main_server, g_helper.helper_end, parent, g_helper.load_state);
    }
    g_helper.load_state = false;  // a helper started after this one finds the table filled
    g_helper.process = apr_proc_t{};
    g_helper.process.pid = pid;
    g_helper.running = true;
    g_helper.started_at = apr_time_now();
    apr_proc_other_child_register(&g_helper.process, maintain, &g_helper, nullptr, g_helper.pool);
    return true;
}

bool httpd_stopping() {
    int state = AP_MPMQ_RUNNING;
    ap_mpm_query(AP_MPMQ_MPM_STATE, &state);
    return state == AP_MPMQ_STOPPING;
}

// apr's other-child machinery: the MPM reports our helper's death here.
void maintain(int reason, void*, int status) {
    if (reason != APR_OC_REASON_DEATH && reason != APR_OC_REASON_LOST) {
        return;
    }
    apr_proc_other_child_unregister(&g_helper);
    g_helper.running = false;
    if (httpd_stopping()) {
        return;
    }
    bool gave_up = WIFEXITED(status) && WEXITSTATUS(status) == kExitDoNotRestart;
    g_helper.quick_deaths =
        apr_time_now() - g_helper.started_at < kQuickDeath ? g_helper.quick_deaths + 1 : 0;
    if (gave_up || g_helper.quick_deaths >= kMaxQuickDeaths) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, g_helper.main_server,
                     "XRG0212: ban helper not restarted (%s); bans stay in-process until the "
                     "next restart of httpd",
                     gave_up ? "it cannot work here, see above" : "it keeps dying at start");
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, g_helper.main_server,
                 "XRG0213: ban helper %" APR_PID_T_FMT " died (status %d); restarting it",
                 g_helper.process.pid, status);
    spawn();
}

// End of a generation (restart or stop): the helper goes with it, reaped here so no
// zombie is left; the next generation's helper re-adds from the table.
// apr's own pool cleanup has unregistered the other-child record by now (registered
// after this cleanup, it runs before it), so unregistering here would be a double.
apr_status_t stop_helper(void*) {
    if (getpid() != g_helper.owner) {
        return APR_SUCCESS;
    }
    if (g_helper.running) {
        pid_t pid = g_helper.process.pid;
        kill(pid, SIGTERM);
        bool reaped = false;
        // At most ~3 s: the helper saves the state file (write, fsync, rename) first.
        for (int i = 0; i < 300 && !reaped; ++i) {
            reaped = waitpid(pid, nullptr, WNOHANG) == pid;
            if (!reaped)
                usleep(10000);
        }
        if (!reaped) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        g_helper.running = false;
    }
    if (g_helper.control_path) {
        unlink(g_helper.control_path);
    }
    for (int* fd : {&g_helper.child_end, &g_helper.helper_end}) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
    }
    return APR_SUCCESS;
}

bool some_server_bans(server_rec* main_server) {
    for (server_rec* s = main_server; s; s = s->next) {
        if (config_of(s).mode == GuardMode::On)
            return true;
    }
    return false;
}

}  // namespace

int start_ban_helper(apr_pool_t* pconf, server_rec* s) noexcept {
    const ServerConfig& config = config_of(s);
    if (!config.ipset4 || !some_server_bans(s)) {
        return OK;  // XmlRpcGuardIPSet none, or nothing to ban: in-process deny only
    }
    if (geteuid() != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "XRG0201: httpd was not started as root, so no ban helper can hold "
                     "CAP_NET_ADMIN: bans are enforced in-process (403) only, not by the kernel");
        return OK;
    }
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ends) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s,
                     "XRG0211: cannot make the ban helper's socket pair");
        return OK;  // in-process deny still works
    }
    g_helper = Helper{};
    g_helper.owner = getpid();
    g_helper.pool = pconf;
    g_helper.main_server = s;
    g_helper.child_end = ends[0];
    g_helper.helper_end = ends[1];
    g_helper.control_path =
        config.control_socket && *config.control_socket ? config.control_socket : nullptr;
    if (!ap_retained_data_get(kStateLoadedKey)) {
        ap_retained_data_create(kStateLoadedKey, 1);
        g_helper.load_state = true;
    }
    apr_pool_cleanup_register(pconf, nullptr, stop_helper, apr_pool_cleanup_null);
    spawn();
    return OK;
}

void close_helper_end_in_child() noexcept {
    if (g_helper.helper_end >= 0) {
        close(g_helper.helper_end);  // a child may send bans, never read them
        g_helper.helper_end = -1;
    }
}

void send_ban(const Address& key, unsigned ipv6_prefix, std::uint32_t seconds) noexcept {
    if (g_helper.child_end < 0) {
        return;
    }
    BanRequest request = offender_ban(key, ipv6_prefix, seconds);
    BanMessage message = encode(request);
    // Full channel or helper between restarts: the table holds the ban, and the
    // helper's next reconcile puts it in the kernel.
    bool sent = send(g_helper.child_end, message.data(), message.size(),
                     MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(message.size());
    count(sent ? Counter::HelperMessagesSent : Counter::HelperMessagesDropped);
}

void send_offences(const OffenceReport& report) noexcept {
    if (g_helper.child_end < 0) {
        return;
    }
    OffenceMessage message = encode(report);
    // Full channel or helper between restarts: lost to the fleet, never to this node,
    // whose own window counted the offences already.
    bool sent = send(g_helper.child_end, message.data(), message.size(),
                     MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(message.size());
    count(sent ? Counter::ClusterReportsSent : Counter::ClusterReportsDropped);
}

void send_name_failure(const NameMessage& message) noexcept {
    if (g_helper.child_end < 0) {
        return;
    }
    // Lost to the fleet only: this node's own table counted the failure already.
    bool sent = send(g_helper.child_end, message.data(), message.size(),
                     MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(message.size());
    count(sent ? Counter::ClusterReportsSent : Counter::ClusterReportsDropped);
}

void send_prefix_ban(const Cidr& prefix, std::uint32_t seconds) noexcept {
    if (g_helper.child_end < 0) {
        return;
    }
    BanMessage message = encode_prefix({prefix, seconds});
    bool sent = send(g_helper.child_end, message.data(), message.size(),
                     MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(message.size());
    count(sent ? Counter::HelperMessagesSent : Counter::HelperMessagesDropped);
}

}  // namespace xmlrpcguard::httpd
