#include "xmlrpcguard/control.hpp"

#include <vector>

#include "lift_bans.hpp"
#include "xmlrpcguard/ban_key.hpp"
#include "xmlrpcguard/durations.hpp"
#include "xmlrpcguard/status_report.hpp"

namespace xmlrpcguard {

namespace {

std::vector<std::string_view> words_of(std::string_view line) {
    std::vector<std::string_view> words;
    while (!line.empty()) {
        auto start = line.find_first_not_of(" \t\r\n");
        if (start == std::string_view::npos) {
            break;
        }
        line.remove_prefix(start);
        auto end = line.find_first_of(" \t\r\n");
        words.push_back(line.substr(0, end));
        line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    }
    return words;
}

std::string error(std::string_view why) {
    return "error: " + std::string(why) + "\n";
}

constexpr std::string_view kUsage = "try: status, list, ban ADDR [DURATION], unban ADDR, flush";

// Kept short and printable: a command is logged, and a log line must not be forged.
std::string printable_word(std::string_view word) {
    std::string out;
    for (char c : word.substr(0, 64)) {
        out += (c > 0x20 && c < 0x7f && c != '"') ? c : '?';
    }
    return out;
}

}  // namespace

ControlCommand ControlCommand::parse(std::string_view line) {
    using Verb = ControlCommand::Verb;
    auto words = words_of(line);
    ControlCommand command;
    if (words.empty()) {
        return command;
    }
    std::string_view verb = words[0];
    std::size_t arguments = words.size() - 1;
    if (verb == "status" && arguments == 0) {
        command.verb = Verb::Status;
    } else if (verb == "list" && arguments == 0) {
        command.verb = Verb::List;
    } else if (verb == "ban" && (arguments == 1 || arguments == 2)) {
        command.verb = Verb::Ban;
        command.address = printable_word(words[1]);
        command.duration = arguments == 2 ? printable_word(words[2]) : "";
    } else if (verb == "unban" && arguments == 1) {
        command.verb = Verb::Unban;
        command.address = printable_word(words[1]);
    } else if (verb == "flush" && arguments == 0) {
        command.verb = Verb::Flush;
    }
    return command;
}

bool ControlCommand::changes_state() const noexcept {
    return verb == Verb::Ban || verb == Verb::Unban || verb == Verb::Flush;
}

std::string ControlCommand::to_string() const {
    switch (verb) {
        case Verb::Status:
            return "status";
        case Verb::List:
            return "list";
        case Verb::Ban:
            return "ban " + address + (duration.empty() ? "" : " " + duration);
        case Verb::Unban:
            return "unban " + address;
        case Verb::Flush:
            return "flush";
        case Verb::Invalid:
            break;
    }
    return "invalid";
}

ControlService::ControlService(WindowTable table, BanHelper& helper, const GuardCounters* counters,
                               ControlSettings settings)
    : table_(table), helper_(helper), counters_(counters), settings_(settings) {}

BanTimePolicy ControlService::ban_policy() const {
    if (ban_policy_) {
        return *ban_policy_;
    }
    BanTimePolicy plain;
    plain.bantime = settings_.bantime;
    return plain;
}

std::string ControlService::execute(std::string_view line, std::int64_t now) {
    ControlCommand command = ControlCommand::parse(line);
    if (command.verb == ControlCommand::Verb::Invalid) {
        return error(words_of(line).empty()
                         ? "empty command; " + std::string(kUsage)
                         : "unknown command or wrong arguments; " + std::string(kUsage));
    }
    return execute(command, now);
}

std::string ControlService::execute(const ControlCommand& command, std::int64_t now) {
    using Verb = ControlCommand::Verb;
    switch (command.verb) {
        case Verb::Status:
            return status(now);
        case Verb::List:
            return list(now);
        case Verb::Ban:
            return ban(command.address, command.duration, now);
        case Verb::Unban:
            return unban(command.address, now);
        case Verb::Flush:
            return flush(now);
        case Verb::Invalid:
            break;
    }
    return error("unknown command or wrong arguments; " + std::string(kUsage));
}

std::string ControlService::status(std::int64_t now) {
    auto report = gather_status(table_, counters_, now, settings_.rule, helper_.ipv6_prefix(),
                                StatusLimits{0, 0});
    std::string out = "ok\n";
    out += "counting_since " + utc_time(report.counting_since) + "\n";
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        out += std::string(info(static_cast<Counter>(i)).name) + " " +
               std::to_string(report.counters[i]) + "\n";
    }
    const TableStats& t = report.table;
    out += "banned_now " + std::to_string(t.banned) + "\n";
    out += "table_entries " + std::to_string(t.used) + "\n";
    out += "table_capacity " + std::to_string(t.capacity) + "\n";
    out += "table_evictions " + std::to_string(t.evictions) + "\n";
    out += "table_refused_records " + std::to_string(t.refused_full) + "\n";
    out += "table_lock_recoveries " + std::to_string(t.lock_recoveries) + "\n";
    if (std::string cluster = cluster_state(report); !cluster.empty()) {
        out += "cluster " + cluster.substr(cluster.find(' ') + 1) + "\n";
    }
    out += status_prefixes(now);
    return out;
}

std::string ControlService::list(std::int64_t now) {
    auto report = gather_status(table_, counters_, now, settings_.rule, helper_.ipv6_prefix(),
                                StatusLimits{SIZE_MAX, 20}, ban_policy());
    std::string out = "ok " + std::to_string(report.bans_total) + " banned\n";
    unsigned prefix = helper_.ipv6_prefix();
    for (const EntryView& e : report.bans) {
        out += "banned " + key_text(e.address, prefix) + " reason=" + to_string(e.reason) +
               " since=" + utc_time(e.banned_since) + " until=" + utc_time(e.banned_until) +
               " times_banned=" + std::to_string(e.times_banned) +
               " next_ban=" + std::to_string(ban_length(ban_policy(), e.times_banned + 1)) + "\n";
    }
    for (const EntryView& e : report.offenders) {
        out += "counting " + key_text(e.address, prefix) +
               " offences_in_window=" + std::to_string(e.in_window) + "/" +
               std::to_string(settings_.rule.maxretry) + " last=" + utc_time(e.last_offence) +
               " times_banned=" + std::to_string(e.times_banned) +
               " next_ban=" + std::to_string(ban_length(ban_policy(), e.times_banned + 1)) + "\n";
    }
    out += list_prefixes(now);
    return out;
}

std::string ControlService::ban(std::string_view address, std::string_view duration,
                                std::int64_t now) {
    auto parsed = Address::parse(address);
    auto prefix_given =
        address.find('/') != std::string_view::npos ? Cidr::parse(address) : std::nullopt;
    if (!parsed && !prefix_given) {
        return error("not an IP address: \"" + std::string(address.substr(0, 64)) + "\"");
    }
    std::uint32_t seconds = settings_.bantime;
    if (!duration.empty()) {
        auto given = parse_duration(duration);
        if (!given || *given == 0) {
            return error("not a duration (3600, 45s, 10m, 1h, 1d, 1w): \"" +
                         std::string(duration.substr(0, 32)) + "\"");
        }
        seconds = *given;
    }
    if (prefix_given) {
        return ban_prefix(*prefix_given, seconds, now);
    }
    unsigned prefix = helper_.ipv6_prefix();
    Address key = parsed->offender_key(prefix);
    BanRequest request = offender_ban(key, prefix, seconds);
    std::string why;
    if (helper_.is_protected(request)) {
        return error(
            "a protected address (loopback, the server's own, XmlRpcGuardIgnoreIP) is never "
            "banned");
    }
    table_.ban(key, now, now + seconds, BanReason::Manual);
    if (helper_.ban_now(request, now, why) != HelperVerdict::Added) {
        return error("banned in httpd, but not in the kernel: " + why);
    }
    return "ok banned " + key_text(key, prefix) + " until " + utc_time(now + seconds) + "\n";
}

std::string ControlService::unban(std::string_view address, std::int64_t now) {
    if (address.find('/') != std::string_view::npos) {
        auto prefix = Cidr::parse(address);
        if (!prefix) {
            return error("not a network: \"" + std::string(address.substr(0, 64)) + "\"");
        }
        return unban_prefix(*prefix, now);
    }
    auto parsed = Address::parse(address);
    if (!parsed) {
        return error("not an IP address: \"" + std::string(address.substr(0, 64)) + "\"");
    }
    unsigned prefix = helper_.ipv6_prefix();
    Address key = parsed->offender_key(prefix);
    bool was_banned = table_.banned(key, now);
    table_.unban(key, now);
    std::string why;
    if (!helper_.withdraw(offender_ban(key, prefix, 0), why)) {
        return error("unbanned in httpd, but the kernel refused: " + why);
    }
    return "ok " + std::string(was_banned ? "unbanned " : "was not banned: ") +
           key_text(key, prefix) + "\n";
}

std::string ControlService::flush(std::int64_t now) {
    std::size_t lifted = lift_all_bans(table_, now);
    std::string why;
    std::size_t prefixes = 0;
    if (!helper_.withdraw_all(why) || !flush_prefixes(now, prefixes, why)) {
        return error("unbanned in httpd, but the kernel refused: " + why);
    }
    return "ok unbanned " + std::to_string(lifted) +
           (prefixes ? " and " + std::to_string(prefixes) + " prefixes" : "") + "\n";
}

}  // namespace xmlrpcguard
