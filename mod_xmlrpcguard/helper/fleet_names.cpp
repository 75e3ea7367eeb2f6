#include "fleet_names.hpp"

#include <algorithm>
#include <charconv>

namespace xmlrpcguard {

namespace {

// 16 lower-case hex digits, as the link writes a fleet hash; never 0.
bool hex_hash(std::string_view text, std::uint64_t& out) {
    if (text.size() != 16 || !std::all_of(text.begin(), text.end(), [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        })) {
        return false;
    }
    std::from_chars(text.data(), text.data() + text.size(), out, 16);
    return out != 0;
}

bool seconds(std::string_view text, std::int64_t& out) {
    if (text.empty() || text.size() > 12) {
        return false;
    }
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return error == std::errc() && end == text.data() + text.size() && out >= 0;
}

}  // namespace

FleetNames::FleetNames(UserTable table, FleetNameSettings settings)
    : table_(table),
      settings_(std::move(settings)),
      report_tokens_(settings_.reports_per_second, settings_.reports_burst),
      lock_tokens_(settings_.locks_per_second, settings_.locks_burst) {
    for (const UserRule& rule : settings_.rules) {
        longest_locktime_ = std::max(longest_locktime_, rule.locktime);
    }
}

bool FleetNames::configured(const UserRule& rule) const noexcept {
    return std::any_of(settings_.rules.begin(), settings_.rules.end(), [&](const UserRule& mine) {
        return mine.findtime == rule.findtime && mine.maxretry == rule.maxretry &&
               mine.locktime == rule.locktime;
    });
}

void FleetNames::remember(std::uint64_t fleet, Record record) {
    auto [at, added] = known_.insert_or_assign(fleet, record);
    (void)at;
    if (!added) {
        return;
    }
    known_order_.push_back(fleet);
    while (known_.size() > settings_.known_limit && !known_order_.empty()) {
        known_.erase(known_order_.front());
        known_order_.pop_front();
    }
}

ReportVerdict FleetNames::admit(std::span<const std::byte> datagram, std::int64_t now,
                                NameFailure& out) {
    auto report = decode_name_failure(datagram);
    // The slot must hold that vhost now: a report cannot make the helper claim a slot.
    if (!report || table_.vhost_id(report->vhost_slot) != report->vhost_id) {
        return ReportVerdict::Malformed;
    }
    if (!configured(report->rule)) {
        return ReportVerdict::UnknownRule;
    }
    if (!report_tokens_.take(now)) {
        return ReportVerdict::OverRate;
    }
    std::uint64_t fleet = fleet_name_hash(settings_.key, report->vhost_id, report->folded);
    Record record{report->vhost_slot, report->local_hash, report->rule.locktime};
    remember(fleet, record);
    if (auto kept = kept_.find(fleet); kept != kept_.end()) {
        std::int64_t until = std::min(kept->second.until, now + record.locktime);
        if (until > now) {
            impose(record, now, until);
        }
        kept_.erase(kept);  // its entry in kept_order_ is stale now (the serial tells)
    }
    out = NameFailure{fleet, report->rule};
    return ReportVerdict::Accepted;
}

ClusterOutcome FleetNames::apply(const ClusterEntry& entry, std::int64_t now, std::string& why) {
    std::uint64_t fleet = 0;
    std::int64_t until = 0;
    if (!hex_hash(entry.field("name"), fleet) || !seconds(entry.field("until"), until)) {
        why = "bad name or until";
        return ClusterOutcome::Malformed;
    }
    if (until <= now) {
        return ClusterOutcome::Expired;
    }
    // The end is by Redis's clock: a node whose clock lags reads it longer than the lock
    // time. Within the slack it is cut to the lock time; past it, refused.
    auto longest = static_cast<std::int64_t>(longest_locktime_);
    if (until - now > longest + settings_.clock_slack) {
        why = "a lock longer than any XmlRpcGuardUserLockTime here";
        return ClusterOutcome::Malformed;
    }
    until = std::min(until, now + longest);
    // A name that failed here lately is under attack here too: its lock is one table
    // write, always applied, so that a flood of forged locks cannot hold back a real
    // one. Only the names kept for later (state, and a write to come) take the ceiling.
    if (auto known = known_.find(fleet); known != known_.end()) {
        until = std::min(until, now + known->second.locktime);  // its own vhost's lock time
        if (!impose(known->second, now, until)) {
            why = "the record's stripe is held, or its bucket full: tried again each second";
            return ClusterOutcome::Unchanged;
        }
        return ClusterOutcome::Applied;
    }
    // No failure of this name here yet: its first one writes the lock.
    if (!lock_tokens_.take(now)) {
        why = "over the ceiling on locks of names not seen here";
        return ClusterOutcome::OverRate;
    }
    auto [at, added] = kept_.try_emplace(fleet, Kept{until, 0});
    at->second.until = std::max(at->second.until, until);
    if (added) {
        at->second.serial = ++kept_serial_;
        kept_order_.emplace_back(fleet, at->second.serial);
    }
    while (kept_order_.size() > settings_.kept_limit) {
        auto [oldest, serial] = kept_order_.front();
        kept_order_.pop_front();
        if (auto stale = kept_.find(oldest);
            stale != kept_.end() && stale->second.serial == serial) {
            kept_.erase(stale);
        }
    }
    why = "no failure of this name here yet: kept for its first one";
    return ClusterOutcome::Unchanged;
}

bool FleetNames::impose(Record record, std::int64_t now, std::int64_t until) {
    if (table_.impose_lock(record.slot, record.local, now, until)) {
        return true;
    }
    if (pending_.size() >= settings_.pending_limit) {
        pending_.pop_front();  // the oldest: the lock nearest its end
    }
    pending_.push_back(Pending{record, until});
    return false;
}

void FleetNames::retry(std::int64_t now) {
    for (std::size_t n = pending_.size(); n > 0; --n) {
        Pending next = pending_.front();
        pending_.pop_front();
        if (next.until > now &&
            !table_.impose_lock(next.record.slot, next.record.local, now, next.until)) {
            pending_.push_back(next);
        }
    }
}

}  // namespace xmlrpcguard
