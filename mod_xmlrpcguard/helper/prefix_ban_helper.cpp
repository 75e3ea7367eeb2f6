#include "xmlrpcguard/prefix_ban_helper.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace xmlrpcguard {

std::size_t PrefixBanHelper::CidrHash::operator()(const Address& address) const noexcept {
    std::uint64_t halves[2];
    std::memcpy(halves, address.bytes.data(), sizeof halves);
    return std::hash<std::uint64_t>{}(halves[0] * 0x9E3779B97F4A7C15ULL ^ halves[1]);
}

PrefixBanHelper::PrefixBanHelper(BanSink& sink, PrefixHelperSettings settings,
                                 const PrefixTable* table)
    : sink_(sink),
      settings_(std::move(settings)),
      table_(table),
      tokens_(settings_.per_second, settings_.burst) {
    settings_.never_ban.add_all(AddressSet::loopback());
}

std::string PrefixBanHelper::refusal(const Cidr& prefix) const {
    unsigned wanted = prefix.network.is_ipv4() ? settings_.ipv4_bits : settings_.ipv6_bits;
    if (prefix.prefix != wanted) {
        return "a /" + std::to_string(prefix.prefix) + " is not the configured /" +
               std::to_string(wanted) + " (XmlRpcGuardPrefixBanSize)";
    }
    std::string block;
    if (covers_protected(prefix, settings_.never_ban, block)) {
        return "it overlaps the protected " + block +
               " (loopback, the server's own or XmlRpcGuardIgnoreIP)";
    }
    return {};
}

bool PrefixBanHelper::take_token(std::int64_t now) {
    return tokens_.take(now);
}

bool PrefixBanHelper::put(const PrefixBanRequest& request, std::int64_t now, std::string& error) {
    BanRequest entry;
    entry.key = request.prefix.network;
    entry.prefix = static_cast<std::uint8_t>(request.prefix.prefix);
    entry.seconds = std::min(request.seconds, kKernelMaxTimeout);
    if (!sink_.add(entry, error)) {
        return false;
    }
    kernel_until_[request.prefix.network] = now + entry.seconds;
    return true;
}

HelperVerdict PrefixBanHelper::judge(const PrefixBanRequest& request, std::int64_t now,
                                     std::string& error) {
    HelperVerdict verdict;
    std::string why = refusal(request.prefix);
    if (!why.empty()) {
        verdict = HelperVerdict::Protected;
    } else if (!take_token(now)) {
        verdict = HelperVerdict::OverRate;
    } else {
        verdict = put(request, now, error) ? HelperVerdict::Added : HelperVerdict::Failed;
        why = error;
    }
    if (report_) {
        report_(verdict, request.prefix, why);
    }
    return verdict;
}

HelperVerdict PrefixBanHelper::on_message(std::span<const std::byte> message, std::int64_t now,
                                          std::string& error) {
    auto request = decode_prefix(message);
    if (!request) {
        return HelperVerdict::Malformed;
    }
    return judge(*request, now, error);
}

bool PrefixBanHelper::ban_now(const PrefixBanRequest& request, std::int64_t now,
                              std::string& error) {
    error = refusal(request.prefix);
    if (!error.empty()) {
        return false;
    }
    if (!take_token(now)) {
        error = "the prefix ban rate ceiling is reached; try again in a moment";
        return false;
    }
    return put(request, now, error);
}

bool PrefixBanHelper::withdraw(const Cidr& prefix, std::string& error) {
    kernel_until_.erase(prefix.network);
    BanRequest entry{prefix.network, static_cast<std::uint8_t>(prefix.prefix), 0};
    return sink_.remove(entry, error);
}

bool PrefixBanHelper::withdraw_all(std::string& error) {
    kernel_until_.clear();
    return sink_.flush(error);
}

BanHelper::Reconciled PrefixBanHelper::reconcile(std::int64_t now, std::string& error) {
    BanHelper::Reconciled result;
    if (!table_) {
        return result;
    }
    std::vector<PrefixBanRequest> due;
    table_->for_each(now, 1, [&](const PrefixView& view) {
        if (view.banned_until <= now || view.httpd_only) {
            return;
        }
        auto known = kernel_until_.find(view.prefix.network);
        if (known != kernel_until_.end() && (known->second >= view.banned_until ||
                                             known->second > now + settings_.refresh_margin)) {
            return;
        }
        auto remaining = std::min<std::int64_t>(view.banned_until - now, UINT32_MAX);
        // Table memory is the children's to write: only what a message could ask.
        if (view.prefix.network.masked(view.prefix.prefix) == view.prefix.network) {
            due.push_back({view.prefix, static_cast<std::uint32_t>(remaining)});
        }
    });
    for (const PrefixBanRequest& request : due) {
        switch (judge(request, now, error)) {
            case HelperVerdict::Added:
                ++result.added;
                break;
            case HelperVerdict::OverRate:
                ++result.deferred;
                break;
            case HelperVerdict::Failed:
                ++result.failed;
                break;
            default:  // refused and reported once: not judged again while it runs
                kernel_until_[request.prefix.network] = now + request.seconds;
                break;
        }
    }
    std::erase_if(kernel_until_, [now](const auto& known) { return known.second <= now; });
    return result;
}

}  // namespace xmlrpcguard
