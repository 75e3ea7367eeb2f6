#include "xmlrpcguard/address_set.hpp"

#include <algorithm>
#include <charconv>

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

}  // namespace xmlrpcguard
