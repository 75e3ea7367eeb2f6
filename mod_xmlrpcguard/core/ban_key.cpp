#include "xmlrpcguard/ban_key.hpp"

namespace xmlrpcguard {

bool ban_key_fits(const Address& key, unsigned prefix) noexcept {
    bool length_fits = key.is_ipv4() ? prefix == 32 : prefix >= kMinIPv6BanPrefix && prefix <= 128;
    return length_fits && key.masked(prefix) == key;
}

BanRequest offender_ban(const Address& address, unsigned ipv6_prefix,
                        std::uint32_t seconds) noexcept {
    BanRequest request;
    request.key = address.offender_key(ipv6_prefix);
    request.prefix = static_cast<std::uint8_t>(address.is_ipv4() ? 32 : ipv6_prefix);
    request.seconds = seconds;
    return request;
}

}  // namespace xmlrpcguard
