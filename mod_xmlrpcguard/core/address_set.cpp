#include "xmlrpcguard/address_set.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace xmlrpcguard {

std::optional<Cidr> Cidr::parse(std::string_view text) noexcept {
    std::string_view host = text;
    std::optional<unsigned> prefix;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        host = text.substr(0, slash);
        std::string_view digits = text.substr(slash + 1);
        unsigned value = 0;
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size()) {
            return std::nullopt;
        }
        prefix = value;
    }
    auto address = Address::parse(host);
    if (!address) {
        return std::nullopt;
    }
    // "::ffff:a.b.c.d" parses to the mapped form too, but its prefix was written in
    // IPv6 bits; only a dotted address takes an IPv4 prefix.
    bool dotted_ipv4 = address->is_ipv4() && host.find(':') == std::string_view::npos;
    unsigned family_bits = address->is_ipv4() ? 32 : 128;
    unsigned bits = prefix.value_or(dotted_ipv4 ? 32 : 128);
    if (address->is_ipv4() && !dotted_ipv4) {
        if (bits < 96) {
            return std::nullopt;  // wider than the mapped range: not an IPv4 block
        }
        bits -= 96;
    }
    if (bits > family_bits) {
        return std::nullopt;
    }
    return Cidr{address->masked(bits), bits};
}

bool Cidr::contains(const Address& address) const noexcept {
    return address.is_ipv4() == network.is_ipv4() && address.masked(prefix) == network;
}

std::string Cidr::to_string() const {
    return network.to_string() + "/" + std::to_string(prefix);
}

void AddressSet::add_all(const AddressSet& other) {
    blocks_.insert(blocks_.end(), other.blocks_.begin(), other.blocks_.end());
}

bool AddressSet::contains(const Address& address) const noexcept {
    return std::any_of(blocks_.begin(), blocks_.end(),
                       [&](const Cidr& block) { return block.contains(address); });
}

AddressSet AddressSet::loopback() {
    AddressSet set;
    set.add(*Cidr::parse("127.0.0.0/8"));
    set.add(*Cidr::parse("::1"));
    return set;
}

AddressSet AddressSet::local_addresses() {
    AddressSet set;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
        return set;
    }
    for (const ifaddrs* entry = list; entry; entry = entry->ifa_next) {
        if (!entry->ifa_addr) {
            continue;
        }
        Address address;
        if (entry->ifa_addr->sa_family == AF_INET) {
            in_addr v4 = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr)->sin_addr;
            address = Address::from_ipv4(ntohl(v4.s_addr));
            set.add(Cidr{address, 32});
        } else if (entry->ifa_addr->sa_family == AF_INET6) {
            const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr)->sin6_addr;
            std::memcpy(address.bytes.data(), v6.s6_addr, 16);
            set.add(Cidr{address, address.is_ipv4() ? 32u : 128u});
        }
    }
    freeifaddrs(list);
    return set;
}

}  // namespace xmlrpcguard
