#include "cluster_apply.hpp"

#include <algorithm>
#include <charconv>

#include "lift_bans.hpp"
#include "xmlrpcguard/ban_time.hpp"

namespace xmlrpcguard {

namespace {

bool to_number(std::string_view text, std::int64_t& out) {
    if (text.empty() || text.size() > 12) {
        return false;
    }
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return error == std::errc() && end == text.data() + text.size() && out >= 0;
}

std::optional<BanReason> reason_of(std::string_view name) {
    for (BanReason reason : {BanReason::AuthFailure, BanReason::PingbackError,
                             BanReason::LoginFailure, BanReason::Manual}) {
        if (name == to_string(reason)) {
            return reason;
        }
    }
    return std::nullopt;
}

bool node_name(std::string_view node) {
    return !node.empty() && node.size() <= 64 && std::all_of(node.begin(), node.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_' || c == ':';
    });
}

}  // namespace

const char* to_string(ClusterOutcome outcome) noexcept {
    switch (outcome) {
        case ClusterOutcome::Applied:
            return "applied";
        case ClusterOutcome::Unchanged:
            return "unchanged";
        case ClusterOutcome::Expired:
            return "expired";
        case ClusterOutcome::Skipped:
            return "skipped";
        case ClusterOutcome::Malformed:
            return "malformed";
        case ClusterOutcome::Protected:
            return "protected";
        case ClusterOutcome::OverRate:
            return "over_rate";
        case ClusterOutcome::Failed:
            return "failed";
    }
    return "unknown";
}

std::optional<BanRequest> cluster_key(std::string_view address, std::string_view prefix) {
    auto parsed = Address::parse(address);
    std::int64_t length = 0;
    if (!parsed || !to_number(prefix, length)) {
        return std::nullopt;
    }
    bool fits = parsed->is_ipv4() ? length == 32 : length >= kMinIPv6BanPrefix && length <= 128;
    if (!fits || parsed->masked(static_cast<unsigned>(length)) != *parsed) {
        return std::nullopt;
    }
    BanRequest request;
    request.key = *parsed;
    request.prefix = static_cast<std::uint8_t>(length);
    return request;
}

ClusterOutcome ClusterApplier::apply(const ClusterEntry& entry, std::int64_t now,
                                     std::string& why) {
    std::string_view op = entry.field("op");
    std::string_view node = entry.field("node");
    if (!node_name(node)) {
        why = "no node name";
        return ClusterOutcome::Malformed;
    }
    if (op == "ban") {
        return ban(entry, now, why);
    }
    if (op != "unban" && op != "flush") {
        why = "unknown op";
        return ClusterOutcome::Malformed;
    }
    if (node == own_node_) {
        return ClusterOutcome::Skipped;  // done here when the operator asked
    }
    if (op == "unban") {
        auto request = cluster_key(entry.field("addr"), entry.field("prefix"));
        if (!request) {
            why = "bad address or prefix";
            return ClusterOutcome::Malformed;
        }
        bool was = table_.unban(request->key, now);
        if (!helper_.withdraw(*request, why)) {
            return ClusterOutcome::Failed;
        }
        return was ? ClusterOutcome::Applied : ClusterOutcome::Unchanged;
    }
    lift_all_bans(table_, now);
    return helper_.withdraw_all(why) ? ClusterOutcome::Applied : ClusterOutcome::Failed;
}

ClusterOutcome ClusterApplier::ban(const ClusterEntry& entry, std::int64_t now, std::string& why) {
    auto request = cluster_key(entry.field("addr"), entry.field("prefix"));
    std::int64_t until = 0;
    auto reason = reason_of(entry.field("reason"));
    if (!request || !to_number(entry.field("until"), until) || !reason) {
        why = "bad address, prefix, until or reason";
        return ClusterOutcome::Malformed;
    }
    if (until <= now) {
        return ClusterOutcome::Expired;
    }
    if (until - now > static_cast<std::int64_t>(kMaxBanSeconds)) {
        why = "a ban longer than 3650 days";
        return ClusterOutcome::Malformed;
    }
    request->seconds = static_cast<std::uint32_t>(until - now);
    if (helper_.is_protected(*request)) {
        why = "a protected address (loopback, the server's own, XmlRpcGuardIgnoreIP)";
        return ClusterOutcome::Protected;
    }
    if (table_.banned(request->key, now)) {
        table_.ban(request->key, now, until, *reason);  // extends it if this one ends later
        return ClusterOutcome::Unchanged;
    }
    // The kernel first: it is where the helper's rate ceiling is taken.
    bool in_kernel = helper_.ban_now(*request, now, why);
    if (!in_kernel && why.find("rate ceiling") != std::string::npos) {
        return ClusterOutcome::OverRate;
    }
    table_.ban(request->key, now, until, *reason);
    return in_kernel ? ClusterOutcome::Applied : ClusterOutcome::Failed;
}

}  // namespace xmlrpcguard
