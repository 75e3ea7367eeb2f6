#include "cluster_apply.hpp"

#include <algorithm>
#include <charconv>

#include "lift_bans.hpp"
#include "xmlrpcguard/ban_key.hpp"
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
        case ClusterOutcome::Deferred:
            return "deferred";
        case ClusterOutcome::LiftOverRate:
            return "lift_over_rate";
    }
    return "unknown";
}

std::optional<BanRequest> cluster_key(std::string_view address, std::string_view prefix) {
    auto parsed = Address::parse(address);
    std::int64_t length = 0;
    if (!parsed || !to_number(prefix, length)) {
        return std::nullopt;
    }
    if (length > 128 || !ban_key_fits(*parsed, static_cast<unsigned>(length))) {
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
        if (!lifts_.unban(now)) {
            why = "over the ceiling on unbans from the stream: the ban stays";
            return ClusterOutcome::LiftOverRate;
        }
        std::erase_if(deferred_,
                      [&](const DeferredBan& kept) { return kept.request.key == request->key; });
        bool was = table_.unban(request->key, now);
        if (!helper_.withdraw(*request, why)) {
            return ClusterOutcome::Failed;
        }
        return was ? ClusterOutcome::Applied : ClusterOutcome::Unchanged;
    }
    if (!lifts_.flush(now)) {
        why = "a flush from the stream within a minute of the last one: the bans stay";
        return ClusterOutcome::LiftOverRate;
    }
    deferred_.clear();
    lift_all_bans(table_, now);
    return helper_.withdraw_all(why) ? ClusterOutcome::Applied : ClusterOutcome::Failed;
}

HelperVerdict ClusterApplier::place(DeferredBan& ban, std::int64_t now, std::string& why) {
    ban.request.seconds = static_cast<std::uint32_t>(ban.until - now);
    if (!ban_tokens_.take(now)) {
        why = "over the stream's share of the ban rate ceiling";
        return HelperVerdict::OverRate;
    }
    // The kernel first: it is where the helper's rate ceiling is taken.
    HelperVerdict verdict = helper_.ban_now(ban.request, now, why);
    if (verdict == HelperVerdict::Added || verdict == HelperVerdict::Failed) {
        table_.ban(ban.request.key, now, ban.until, ban.reason);  // Failed: the reconcile retries
    }
    return verdict;
}

std::size_t ClusterApplier::retry_deferred(std::int64_t now) {
    std::size_t placed = 0;
    while (!deferred_.empty()) {
        DeferredBan& kept = deferred_.front();
        if (kept.until > now && table_.banned(kept.request.key, now)) {
            table_.ban(kept.request.key, now, kept.until, kept.reason);  // extended at most
        } else if (kept.until > now) {
            std::string why;
            HelperVerdict verdict = place(kept, now, why);
            if (verdict == HelperVerdict::OverRate) {
                break;  // the rest wait for the next refill, in order
            }
            placed += verdict == HelperVerdict::Added || verdict == HelperVerdict::Failed;
        }
        deferred_.pop_front();
    }
    return placed;
}

ClusterOutcome ClusterApplier::ban(const ClusterEntry& entry, std::int64_t now, std::string& why,
                                   bool may_place) {
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
    DeferredBan next{*request, until, *reason};
    if (may_place &&
        deferred_.empty()) {  // else the older ones first (the owner calls retry_deferred)
        switch (place(next, now, why)) {
            case HelperVerdict::Added:
                return ClusterOutcome::Applied;
            case HelperVerdict::Failed:
                return ClusterOutcome::Failed;
            case HelperVerdict::OverRate:
                break;
            case HelperVerdict::Protected:
            case HelperVerdict::Malformed:
                return ClusterOutcome::Protected;  // judged above already
        }
    }
    if (deferred_.size() >= limits_.deferred_limit) {
        why = "over the ban rate ceiling, and " + std::to_string(deferred_.size()) +
              " stream bans wait already";
        return ClusterOutcome::OverRate;
    }
    deferred_.push_back(next);
    why = "over the ban rate ceiling: kept, applied when it allows";
    return ClusterOutcome::Deferred;
}

std::string ClusterApplier::kept_lines() const {
    std::string text;
    for (const DeferredBan& kept : deferred_) {
        text += kept.request.key.to_string() + ' ' + std::to_string(kept.request.prefix) + ' ' +
                std::to_string(kept.until) + ' ' + to_string(kept.reason) + '\n';
    }
    return text;
}

std::size_t ClusterApplier::restore(std::string_view lines, std::int64_t now) {
    std::size_t refused = 0;
    while (!lines.empty()) {
        std::string_view line = lines.substr(0, lines.find('\n'));
        lines.remove_prefix(std::min(lines.size(), line.size() + 1));
        ClusterEntry entry{"", {{"addr", ""}, {"prefix", ""}, {"until", ""}, {"reason", ""}}};
        std::size_t filled = 0;
        for (auto& [name, value] : entry.fields) {
            std::string_view word = line.substr(0, line.find(' '));
            line.remove_prefix(std::min(line.size(), word.size() + 1));
            value = word;
            filled += !word.empty();
        }
        std::string why;
        ClusterOutcome outcome = ClusterOutcome::Malformed;
        if (filled == entry.fields.size() && line.empty()) {
            outcome = ban(entry, now, why, false);
        }
        refused += outcome != ClusterOutcome::Deferred && outcome != ClusterOutcome::Expired &&
                   outcome != ClusterOutcome::Unchanged;
    }
    return refused;
}

}  // namespace xmlrpcguard
