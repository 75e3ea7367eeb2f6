#include "cluster_node.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "xmlrpcguard/ban_key.hpp"
#include "xmlrpcguard/durations.hpp"

namespace xmlrpcguard {

namespace {

bool stream_id(std::string_view id) {
    auto dash = id.find('-');
    auto digits = [](std::string_view part) {
        return !part.empty() && part.size() <= 20 &&
               std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    return dash != std::string_view::npos && digits(id.substr(0, dash)) &&
           digits(id.substr(dash + 1));
}

void add(GuardCounters* counters, Counter which, std::uint64_t n = 1) {
    if (counters && n) {
        counters->add(which, n);
    }
}

}  // namespace

ClusterNode::ClusterNode(ClusterNodeSettings settings, WindowTable table, BanHelper& helper,
                         GuardCounters* counters, ClusterNodeEvents& events)
    : settings_(std::move(settings)),
      helper_(helper),
      counters_(counters),
      events_(events),
      applier_(table, helper, settings_.link.node, settings_.limits),
      admission_(settings_.reports),
      saved_at_(std::chrono::steady_clock::now()) {
    last_id_ = settings_.link.resume_from;
    link_ = std::make_unique<ClusterLink>(settings_.link, counters_, events_);
}

ClusterNode::~ClusterNode() {
    link_.reset();
    save_resume();
}

void ClusterNode::enable_names(UserTable table, FleetNameSettings settings) {
    names_ = std::make_unique<FleetNames>(table, std::move(settings));
}

bool ClusterNode::on_datagram(std::span<const std::byte> datagram, std::int64_t now) {
    ReportVerdict verdict = ReportVerdict::Malformed;
    if (looks_like_name_failure(datagram)) {
        NameFailure failure;
        verdict = names_ ? names_->admit(datagram, now, failure) : ReportVerdict::UnknownRule;
        if (verdict == ReportVerdict::Accepted) {
            link_->offer_name(failure);
            return true;
        }
    } else if (!looks_like_offence(datagram)) {
        return false;
    } else {
        OffenceReport report;
        verdict = admission_.judge(datagram, helper_, now, report);
        if (verdict == ReportVerdict::Accepted) {
            link_->offer(report);
            return true;
        }
    }
    add(counters_, verdict == ReportVerdict::OverRate ? Counter::ClusterReportsOverRate
                                                      : Counter::ClusterReportsRefused);
    events_.report_refused(to_string(verdict));
    return true;
}

bool ClusterNode::on_tick(std::int64_t now) {
    if (names_) {
        names_->retry(now);  // name locks: not in the state file, nothing to save
    }
    if (!settings_.kept_bans.empty()) {  // the first turn: the bans kept before a restart
        add(counters_, Counter::ClusterEntriesRefused, applier_.restore(settings_.kept_bans, now));
        settings_.kept_bans.clear();
        kept_saved_ = applier_.deferred();
    }
    std::size_t placed = applier_.retry_deferred(now);
    add(counters_, Counter::ClusterEntriesApplied, placed);
    if (applier_.deferred() != kept_saved_) {
        unsaved_ = true;  // the kept bans go to the resume file too
        if (std::chrono::steady_clock::now() - saved_at_ > std::chrono::seconds(2)) {
            save_resume();
        }
    }
    return placed > 0;
}

bool ClusterNode::on_ready(std::int64_t now) {
    bool changed = on_tick(now);  // bans kept over the ceiling go before newer ones
    for (const ClusterEntry& entry : link_->take(settings_.entries_per_turn)) {
        std::string why;
        ClusterOutcome outcome = ClusterOutcome::Skipped;  // a name lock, names off here
        if (entry.field("op") != "lock") {
            outcome = applier_.apply(entry, now, why);
        } else if (names_) {
            outcome = names_->apply(entry, now, why);
        }
        switch (outcome) {
            case ClusterOutcome::Applied:
            case ClusterOutcome::Failed:  // the table holds it; the reconcile retries
                add(counters_, Counter::ClusterEntriesApplied);
                changed = changed || entry.field("op") != "lock";  // bans go to the state file
                break;
            case ClusterOutcome::Malformed:
            case ClusterOutcome::Protected:
            case ClusterOutcome::OverRate:
                add(counters_, Counter::ClusterEntriesRefused);
                break;
            case ClusterOutcome::Deferred:
                add(counters_, Counter::ClusterBansDeferred);
                break;
            case ClusterOutcome::LiftOverRate:
                add(counters_, Counter::ClusterLiftsRefused);
                break;
            default:
                break;
        }
        events_.entry(entry, outcome, why);
        last_id_ = entry.id;
        unsaved_ = true;
    }
    if (unsaved_ && std::chrono::steady_clock::now() - saved_at_ > std::chrono::seconds(2)) {
        save_resume();
    }
    return changed;
}

void ClusterNode::on_command(const ControlCommand& command, std::string_view answer,
                             std::int64_t now) {
    if (!answer.starts_with("ok")) {
        return;  // refused here: nothing for the others either
    }
    using Verb = ControlCommand::Verb;
    ClusterCommand out;
    if (command.verb == Verb::Flush) {
        out.op = ClusterCommand::Op::Flush;
        link_->publish(std::move(out));
        return;
    }
    if (command.verb != Verb::Ban && command.verb != Verb::Unban) {
        return;
    }
    auto parsed = Address::parse(command.address);
    if (!parsed) {
        return;
    }
    BanRequest key = offender_ban(*parsed, helper_.ipv6_prefix(), 0);  // as ControlService did
    out.address = key.key.to_string();
    out.prefix = key.prefix;
    if (command.verb == Verb::Unban) {
        out.op = ClusterCommand::Op::Unban;
    } else {
        std::uint32_t seconds = settings_.default_bantime;
        if (!command.duration.empty()) {
            seconds = parse_duration(command.duration).value_or(seconds);
        }
        out.op = ClusterCommand::Op::Ban;
        out.until = now + seconds;
    }
    link_->publish(std::move(out));
}

void ClusterNode::save_resume() {
    saved_at_ = std::chrono::steady_clock::now();
    if (!unsaved_ || settings_.resume_file.empty() || !stream_id(last_id_)) {
        return;
    }
    unsaved_ = false;
    kept_saved_ = applier_.deferred();
    std::string temporary = settings_.resume_file + ".tmp";
    unlink(temporary.c_str());
    int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return;
    }
    std::string text = last_id_ + "\n" + applier_.kept_lines();
    bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = close(fd) == 0 && ok;
    if (!ok || rename(temporary.c_str(), settings_.resume_file.c_str()) != 0) {
        unlink(temporary.c_str());
    }
}

std::string ClusterNode::load_resume(const std::string& path, std::string* kept) {
    int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return {};
    }
    // The id line and deferred_limit kept-ban lines of at most 96 bytes each.
    std::string buffer(64 + ClusterApplierLimits{}.deferred_limit * 96, '\0');
    std::size_t length = 0;
    struct stat about {};
    if (fstat(fd, &about) == 0 && S_ISREG(about.st_mode) && about.st_uid == 0 &&
        (about.st_mode & 022) == 0) {
        for (ssize_t got = 1; got > 0 && length < buffer.size();
             length += std::max<ssize_t>(got, 0)) {
            got = read(fd, buffer.data() + length, buffer.size() - length);
        }
    }
    close(fd);
    std::string_view text(buffer.data(), length);
    std::string_view id = text.substr(0, text.find('\n'));
    if (!stream_id(id)) {
        return {};
    }
    if (kept && id.size() < text.size()) {
        std::string_view rest = text.substr(id.size() + 1);
        *kept = rest.substr(0, rest.rfind('\n') + 1);  // a line cut by the bound: dropped
    }
    return std::string(id);
}

std::string ClusterNode::make_node_name() {
    char host[65] = {};
    gethostname(host, sizeof host - 1);
    std::string name;
    for (char c : std::string_view(host)) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_';
        name += ok ? c : '_';
    }
    name = name.substr(0, 48);
    std::uint32_t tag = 0;
    if (getrandom(&tag, sizeof tag, GRND_NONBLOCK) != sizeof tag) {
        tag = static_cast<std::uint32_t>(getpid()) * 2654435761u;
    }
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", tag);
    return (name.empty() ? "node" : name) + "-" + hex;
}

}  // namespace xmlrpcguard
