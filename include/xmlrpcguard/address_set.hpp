// A list of CIDR blocks (IPv4 and IPv6) to test addresses against: the ignore list.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xmlrpcguard/address.hpp"

namespace xmlrpcguard {

struct Cidr {
    Address network;      // already masked
    unsigned prefix = 0;  // in bits of `network`'s own family (0..32 or 0..128)

    // "198.18.0.0/15", "2001:db8::/32", or a bare address (a host route).
    static std::optional<Cidr> parse(std::string_view text) noexcept;
    bool contains(const Address& address) const noexcept;
    std::string to_string() const;
};

class AddressSet {
  public:
    void add(const Cidr& cidr) { blocks_.push_back(cidr); }
    void add_all(const AddressSet& other);
    bool contains(const Address& address) const noexcept;
    bool empty() const noexcept { return blocks_.empty(); }
    const std::vector<Cidr>& blocks() const noexcept { return blocks_; }

    // 127.0.0.0/8 and ::1, which are never counted or banned.
    static AddressSet loopback();
    // Every address of this network namespace's interfaces, as each host exactly
    // (getifaddrs): a server never bans itself. Empty if they cannot be read.
    static AddressSet local_addresses();

  private:
    std::vector<Cidr> blocks_;
};

}  // namespace xmlrpcguard
