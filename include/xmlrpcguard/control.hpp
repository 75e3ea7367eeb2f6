// The operator's commands (tools/xmlrpcguardctl), executed by the ban helper, which
// holds both records of a ban: the shared table and the kernel sets. One line in,
// text out; the answer's first line is "ok ..." or "error: why".
//
//   status               counters and table figures, one "name value" per line
//   list                 active bans, then offenders under the threshold
//   ban ADDR [DURATION]  ban now (default: XmlRpcGuardBanTime of the main server)
//   unban ADDR           lift a ban in the table and the kernel at once
//   flush                lift every ban
// With prefix bans (set_prefixes), ADDR may be a prefix of the configured length
// ("198.18.7.0/24", "2001:db8:77::/48"); list shows them, flush lifts them too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/ban_time.hpp"
#include "xmlrpcguard/guard_counters.hpp"
#include "xmlrpcguard/prefix_table.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

// One command line, parsed once: what is executed is what is logged.
struct ControlCommand {
    enum class Verb : std::uint8_t { Invalid, Status, List, Ban, Unban, Flush };
    Verb verb = Verb::Invalid;
    std::string address;   // ban, unban
    std::string duration;  // ban; empty = the default bantime

    static ControlCommand parse(std::string_view line);
    bool changes_state() const noexcept;
    // The command as executed ("ban 198.18.0.9 10m"), for the log; "invalid" if it is.
    std::string to_string() const;
};

struct ControlSettings {
    WindowRule rule;                // for the offender list
    std::uint32_t bantime = 86400;  // a `ban` without a duration
};

class ControlService {
  public:
    ControlService(WindowTable table, BanHelper& helper, const GuardCounters* counters,
                   ControlSettings settings);

    // The main server's XmlRpcGuardBanTime* policy: `list` shows each entry's next ban
    // length by it. Unset: every ban lasts ControlSettings::bantime.
    void set_ban_policy(const BanTimePolicy& policy) { ban_policy_ = policy; }
    // The prefix bans (XmlRpcGuardPrefixBan): listed, banned, unbanned and flushed with
    // the rest; their kernel side is the helper's PrefixBanHelper.
    void set_prefixes(PrefixTable table, PrefixRule rule) {
        prefixes_ = table;
        prefix_rule_ = rule;
    }

    std::string execute(std::string_view line, std::int64_t now);
    std::string execute(const ControlCommand& command, std::int64_t now);

  private:
    std::string status(std::int64_t now);
    std::string list(std::int64_t now);
    std::string ban(std::string_view address, std::string_view duration, std::int64_t now);
    std::string unban(std::string_view address, std::int64_t now);
    std::string flush(std::int64_t now);
    // control_prefixes.cpp
    std::string status_prefixes(std::int64_t now) const;
    std::string list_prefixes(std::int64_t now) const;
    std::string ban_prefix(const Cidr& prefix, std::uint32_t seconds, std::int64_t now);
    std::string unban_prefix(const Cidr& prefix, std::int64_t now);
    // Lifts every prefix ban in the table and the kernel; false with `why` on failure.
    bool flush_prefixes(std::int64_t now, std::size_t& lifted, std::string& why);

    WindowTable table_;
    BanHelper& helper_;
    const GuardCounters* counters_;
    ControlSettings settings_;
    std::optional<BanTimePolicy> ban_policy_;
    std::optional<PrefixTable> prefixes_;
    PrefixRule prefix_rule_;

    BanTimePolicy ban_policy() const;
};

}  // namespace xmlrpcguard
