// Bans into two kernel ipsets through libipset (netlink, ~12 us an add, against
// ~2 ms for a shell `ipset add`). IPv4 offenders go into a hash:ip set, IPv6 ones
// into a hash:net set so that a whole /64 is one entry. Both sets are created with
// timeout support and sized for the table, since a hash resize under attack stalls
// an add for milliseconds. Needs CAP_NET_ADMIN in the network namespace.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "xmlrpcguard/ban_sink.hpp"

namespace xmlrpcguard {

class IpsetSink final : public BanSink {
  public:
    // Names are checked by the caller (the directive allows [A-Za-z0-9_.-]{1,31}).
    IpsetSink(std::string ipv4_set, std::string ipv6_set);
    // Both sets hash:net, every entry a network (prefix bans: XmlRpcGuardPrefixBan).
    enum class Kind : bool { Addresses, Networks };
    IpsetSink(std::string ipv4_set, std::string ipv6_set, Kind kind);
    ~IpsetSink() override;
    IpsetSink(const IpsetSink&) = delete;
    IpsetSink& operator=(const IpsetSink&) = delete;

    // Creates both sets if absent, each sized for `capacity` entries.
    bool create_sets(std::size_t capacity, std::string& error);

    // How many firewall rules reference the set (0: bans are recorded but not
    // enforced); nullopt with `error` if it cannot be listed.
    std::optional<unsigned> references(std::string_view set, std::string& error);

    bool add(const BanRequest& request, std::string& error) override;
    bool remove(const BanRequest& request, std::string& error) override;
    bool flush(std::string& error) override;

    const std::string& ipv4_set() const noexcept { return ipv4_set_; }
    const std::string& ipv6_set() const noexcept { return ipv6_set_; }

  private:
    bool run(std::string command, std::string& error);
    std::string target(const BanRequest& request) const;

    struct Session;
    std::unique_ptr<Session> session_;
    std::string ipv4_set_;
    std::string ipv6_set_;
    Kind kind_ = Kind::Addresses;
};

}  // namespace xmlrpcguard
