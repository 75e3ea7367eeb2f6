// The privileged helper's judgement, apart from its process: which messages from the
// httpd children it obeys, how fast, and what it re-adds from the shared table so
// that the kernel holds every active ban (after a helper or httpd restart, a message
// lost to a full channel, or a ban longer than the kernel's largest timeout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>

#include "xmlrpcguard/address_set.hpp"
#include "xmlrpcguard/ban_request.hpp"
#include "xmlrpcguard/ban_sink.hpp"
#include "xmlrpcguard/token_bucket.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

class PrefixBanHelper;

struct HelperSettings {
    // The server-wide XmlRpcGuardIgnoreIP and the server's own addresses (loopback is
    // implied).
    AddressSet never_ban;
    unsigned ipv6_prefix = 64;  // how the table's IPv6 keys are masked
    // Sustained ceiling on kernel adds, whoever asks: children's messages, the table's
    // reconcile, an operator's ban.
    std::uint32_t bans_per_second = 200;
    std::uint32_t burst = 2000;
    std::uint32_t refresh_margin = 60;  // re-add a long ban this many seconds before expiry
};

enum class HelperVerdict : std::uint8_t {
    Added,      // the kernel now holds the ban
    Malformed,  // not one well-formed message
    Protected,  // loopback or an ignored address: never banned
    OverRate,   // above the ceiling: dropped (the table still holds the ban)
    Failed,     // the sink refused; see the error text
};
const char* to_string(HelperVerdict verdict) noexcept;

class BanHelper {
  public:
    BanHelper(BanSink& sink, HelperSettings settings);

    HelperVerdict on_message(std::span<const std::byte> message, std::int64_t now,
                             std::string& error);

    struct Reconciled {
        std::size_t added = 0;
        std::size_t failed = 0;
        std::size_t deferred = 0;  // over the rate ceiling: the next reconcile tries again
    };
    // Adds every active ban of `table` that the kernel may not hold, or holds with a
    // timeout about to end before the ban does. Rate-limited like messages: the table
    // lives in memory the children (and so PHP) can write, so what it holds is judged
    // like what they send.
    Reconciled reconcile(const WindowTable& table, std::int64_t now, std::string& error);

    bool is_protected(const BanRequest& request) const;

    // An operator's ban (xmlrpcguardctl) or a cluster stream's: into the kernel at once,
    // within the rate ceiling. Added, Protected, OverRate or Failed; a refusal also says
    // why in `error`, for a person (callers decide on the verdict, never on the text).
    HelperVerdict ban_now(const BanRequest& request, std::int64_t now, std::string& error);
    // An operator's unban: out of the kernel at once, and forgotten.
    bool withdraw(const BanRequest& request, std::string& error);
    // Every entry out of the kernel.
    bool withdraw_all(std::string& error);

    unsigned ipv6_prefix() const noexcept { return settings_.ipv6_prefix; }

    // Prefix bans (XmlRpcGuardPrefixBan): prefix messages on the channel go to it, and
    // each reconcile reconciles its table too. Null: prefix messages are malformed.
    void set_prefixes(PrefixBanHelper* prefixes) noexcept { prefixes_ = prefixes; }
    PrefixBanHelper* prefixes() const noexcept { return prefixes_; }

  private:
    bool take_token(std::int64_t now);
    bool put(const BanRequest& request, std::int64_t now, std::string& error);

    struct AddressHash {
        std::size_t operator()(const Address& address) const noexcept;
    };

    BanSink& sink_;
    HelperSettings settings_;
    TokenBucket tokens_;
    // When the kernel entry we added for each key ends.
    std::unordered_map<Address, std::int64_t, AddressHash> kernel_until_;
    PrefixBanHelper* prefixes_ = nullptr;
};

}  // namespace xmlrpcguard
