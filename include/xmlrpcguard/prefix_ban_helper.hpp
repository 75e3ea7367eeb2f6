// The privileged helper's judgement of prefix bans, beside BanHelper's of address bans:
// which prefix messages it obeys, how fast, and what it re-adds from the PrefixTable.
// A prefix is a wide net (a /24 is 256 addresses, a /48 2^80), and httpd's children,
// so PHP too, can send on the channel and write the table: a prefix is obeyed only at
// exactly the configured length, never when it holds (or lies in) a protected block,
// and within a ceiling of its own, far below the address ceiling.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "xmlrpcguard/address_set.hpp"
#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/ban_sink.hpp"
#include "xmlrpcguard/prefix_ban.hpp"
#include "xmlrpcguard/prefix_table.hpp"

namespace xmlrpcguard {

struct PrefixHelperSettings {
    AddressSet never_ban;     // as HelperSettings::never_ban; loopback is implied
    unsigned ipv4_bits = 24;  // XmlRpcGuardPrefixBanSize: the only lengths obeyed
    unsigned ipv6_bits = 48;
    std::uint32_t per_second = 5;  // sustained ceiling on kernel prefix adds
    std::uint32_t burst = 50;
    std::uint32_t refresh_margin = 60;
};

class PrefixBanHelper {
  public:
    // What happened to one prefix (for the log); `detail` is the protected block or the
    // sink's error.
    using Report = std::function<void(HelperVerdict, const Cidr&, std::string_view detail)>;

    // `sink` holds the hash:net sets; `table` may be null (nothing to reconcile).
    PrefixBanHelper(BanSink& sink, PrefixHelperSettings settings, const PrefixTable* table);

    void on_report(Report report) { report_ = std::move(report); }

    HelperVerdict on_message(std::span<const std::byte> message, std::int64_t now,
                             std::string& error);
    // Every running prefix ban of the table the kernel may lack (or whose kernel entry
    // ends within the margin while the ban goes on), judged like a message.
    BanHelper::Reconciled reconcile(std::int64_t now, std::string& error);

    // Empty when `prefix` may be banned; else why not.
    std::string refusal(const Cidr& prefix) const;

    bool ban_now(const PrefixBanRequest& request, std::int64_t now, std::string& error);
    bool withdraw(const Cidr& prefix, std::string& error);
    bool withdraw_all(std::string& error);

  private:
    bool take_token(std::int64_t now);
    bool put(const PrefixBanRequest& request, std::int64_t now, std::string& error);
    HelperVerdict judge(const PrefixBanRequest& request, std::int64_t now, std::string& error);

    struct CidrHash {
        std::size_t operator()(const Address& address) const noexcept;
    };

    BanSink& sink_;
    PrefixHelperSettings settings_;
    const PrefixTable* table_;
    Report report_;
    TokenBucket tokens_;
    std::unordered_map<Address, std::int64_t, CidrHash> kernel_until_;
};

}  // namespace xmlrpcguard
