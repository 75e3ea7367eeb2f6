// The operator's commands on prefix bans (XmlRpcGuardPrefixBan): ControlService's part
// that reads and changes the PrefixTable and, through the helper's PrefixBanHelper,
// the kernel's hash:net sets. Both records change at once, as for addresses.
#include "xmlrpcguard/control.hpp"
#include "xmlrpcguard/prefix_ban_helper.hpp"
#include "xmlrpcguard/status_report.hpp"

namespace xmlrpcguard {
namespace {

std::string refusal(std::string_view why) {
    return "error: " + std::string(why) + "\n";
}

}  // namespace

std::string ControlService::status_prefixes(std::int64_t now) const {
    if (!prefixes_) {
        return {};
    }
    PrefixStats s = prefixes_->stats(now);
    return "banned_prefixes " + std::to_string(s.banned) + "\nprefix_bans " +
           std::to_string(s.bans) + "\nprefix_folded_entries " + std::to_string(s.folded) +
           "\nprefix_denied_requests " + std::to_string(s.denied) + "\nprefix_spared " +
           std::to_string(s.spared) + "\nprefix_detected " + std::to_string(s.detected) + "\n";
}

std::string ControlService::list_prefixes(std::int64_t now) const {
    if (!prefixes_) {
        return {};
    }
    std::string out;
    prefixes_->for_each(now, prefix_rule_.findtime, [&](const PrefixView& v) {
        if (v.banned_until > now) {
            out += "banned-prefix " + v.prefix.to_string() + " since=" + utc_time(v.banned_since) +
                   " until=" + utc_time(v.banned_until) +
                   " times_banned=" + std::to_string(v.times_banned) +
                   " folded=" + std::to_string(v.folded) +
                   (v.httpd_only ? " kernel=no" : " kernel=yes") + "\n";
        }
    });
    return out;
}

std::string ControlService::ban_prefix(const Cidr& prefix, std::uint32_t seconds,
                                       std::int64_t now) {
    PrefixBanHelper* kernel = helper_.prefixes();
    if (!prefixes_ || !kernel) {
        return refusal("prefix bans are off (XmlRpcGuardPrefixBan, XmlRpcGuardPrefixBanIPSet)");
    }
    if (std::string why = kernel->refusal(prefix); !why.empty()) {
        return refusal("not banned: " + why);
    }
    prefixes_->ban(prefix, now, now + seconds);
    std::string why;
    if (!kernel->ban_now({prefix, seconds}, now, why)) {
        return refusal("banned in httpd, but not in the kernel: " + why);
    }
    return "ok banned " + prefix.to_string() + " until " + utc_time(now + seconds) + "\n";
}

std::string ControlService::unban_prefix(const Cidr& prefix, std::int64_t now) {
    if (!prefixes_) {
        return refusal("prefix bans are off (XmlRpcGuardPrefixBan)");
    }
    bool was_banned = prefixes_->unban(prefix, now);
    std::string why;
    if (PrefixBanHelper* kernel = helper_.prefixes(); kernel && !kernel->withdraw(prefix, why)) {
        return refusal("unbanned in httpd, but the kernel refused: " + why);
    }
    return "ok " + std::string(was_banned ? "unbanned " : "was not banned: ") + prefix.to_string() +
           "\n";
}

bool ControlService::flush_prefixes(std::int64_t now, std::size_t& lifted, std::string& why) {
    lifted = prefixes_ ? prefixes_->unban_all(now) : 0;
    PrefixBanHelper* kernel = helper_.prefixes();
    return !kernel || kernel->withdraw_all(why);
}

}  // namespace xmlrpcguard
