#include "xmlrpcguard/ban_helper.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "xmlrpcguard/prefix_ban_helper.hpp"

namespace xmlrpcguard {

const char* to_string(HelperVerdict verdict) noexcept {
    switch (verdict) {
        case HelperVerdict::Added:
            return "added";
        case HelperVerdict::Malformed:
            return "malformed";
        case HelperVerdict::Protected:
            return "protected";
        case HelperVerdict::OverRate:
            return "over_rate";
        case HelperVerdict::Failed:
            return "failed";
    }
    return "unknown";
}

std::size_t BanHelper::AddressHash::operator()(const Address& address) const noexcept {
    std::uint64_t halves[2];
    std::memcpy(halves, address.bytes.data(), sizeof halves);
    return std::hash<std::uint64_t>{}(halves[0] * 0x9E3779B97F4A7C15ULL ^ halves[1]);
}

BanHelper::BanHelper(BanSink& sink, HelperSettings settings)
    : sink_(sink),
      settings_(std::move(settings)),
      tokens_(settings_.bans_per_second, settings_.burst) {
    settings_.never_ban.add_all(AddressSet::loopback());
}

// An ignored address must not be caught in a banned network either: an IPv6 /64 ban
// that holds an ignored host is refused as a whole.
bool BanHelper::is_protected(const BanRequest& request) const {
    Cidr banned{request.key, request.prefix};  // the prefix counts the family's own bits
    for (const Cidr& block : settings_.never_ban.blocks()) {
        if (block.contains(request.key) || banned.contains(block.network)) {
            return true;
        }
    }
    return false;
}

bool BanHelper::take_token(std::int64_t now) {
    return tokens_.take(now);
}

bool BanHelper::put(const BanRequest& request, std::int64_t now, std::string& error) {
    BanRequest capped = request;
    capped.seconds = std::min(request.seconds, kKernelMaxTimeout);
    if (!sink_.add(capped, error)) {
        return false;
    }
    kernel_until_[request.key] = now + capped.seconds;
    return true;
}

HelperVerdict BanHelper::on_message(std::span<const std::byte> message, std::int64_t now,
                                    std::string& error) {
    if (prefixes_ && is_prefix_message(message)) {
        return prefixes_->on_message(message, now, error);
    }
    auto request = decode(message);
    if (!request) {
        return HelperVerdict::Malformed;
    }
    if (is_protected(*request)) {
        return HelperVerdict::Protected;
    }
    if (!take_token(now)) {
        return HelperVerdict::OverRate;
    }
    return put(*request, now, error) ? HelperVerdict::Added : HelperVerdict::Failed;
}

HelperVerdict BanHelper::ban_now(const BanRequest& request, std::int64_t now, std::string& error) {
    if (is_protected(request)) {
        error =
            "a protected address (loopback, the server's own, XmlRpcGuardIgnoreIP) is never "
            "banned";
        return HelperVerdict::Protected;
    }
    if (!take_token(now)) {
        error = "the ban rate ceiling is reached; try again in a moment";
        return HelperVerdict::OverRate;
    }
    return put(request, now, error) ? HelperVerdict::Added : HelperVerdict::Failed;
}

bool BanHelper::withdraw(const BanRequest& request, std::string& error) {
    kernel_until_.erase(request.key);
    return sink_.remove(request, error);
}

bool BanHelper::withdraw_all(std::string& error) {
    kernel_until_.clear();
    return sink_.flush(error);
}

BanHelper::Reconciled BanHelper::reconcile(const WindowTable& table, std::int64_t now,
                                           std::string& error) {
    std::vector<BanRequest> due;
    table.for_each(now, 1, [&](const EntryView& entry) {
        if (entry.banned_until <= now || entry.httpd_only) {
            return;
        }
        auto known = kernel_until_.find(entry.address);
        bool held =
            known != kernel_until_.end() &&
            (known->second >= entry.banned_until || known->second > now + settings_.refresh_margin);
        if (held) {
            return;
        }
        BanRequest request;
        request.key = entry.address;
        bool v4 = entry.address.is_ipv4();
        request.prefix = static_cast<std::uint8_t>(v4 ? 32 : settings_.ipv6_prefix);
        if (!v4 && entry.address.masked(request.prefix) != entry.address) {
            request.prefix = 128;  // keyed under another vhost's prefix: ban exactly the key
        }
        auto remaining = entry.banned_until - now;
        request.seconds =
            static_cast<std::uint32_t>(std::min<std::int64_t>(remaining, std::int64_t{UINT32_MAX}));
        if (!is_protected(request)) {
            due.push_back(request);
        }
    });
    Reconciled result;
    for (const BanRequest& request : due) {
        if (!take_token(now)) {
            ++result.deferred;
            continue;
        }
        if (put(request, now, error)) {
            ++result.added;
        } else {
            ++result.failed;
        }
    }
    std::erase_if(kernel_until_, [now](const auto& known) { return known.second <= now; });
    if (prefixes_) {
        auto more = prefixes_->reconcile(now, error);
        result.added += more.added;
        result.failed += more.failed;
        result.deferred += more.deferred;
    }
    return result;
}

}  // namespace xmlrpcguard
