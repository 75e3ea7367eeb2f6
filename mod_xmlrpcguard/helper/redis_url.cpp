#include "redis_url.hpp"

#include <algorithm>
#include <charconv>

namespace xmlrpcguard {

namespace {

bool to_int(std::string_view text, int low, int high, int& out) {
    if (text.empty() || text.size() > 6) {
        return false;
    }
    int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < low || value > high) {
        return false;
    }
    out = value;
    return true;
}

bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == ':';
}

}  // namespace

std::optional<RedisEndpoint> parse_redis_url(std::string_view url, std::string& why) {
    constexpr std::string_view kScheme = "redis://";
    if (url.starts_with("rediss://")) {
        why =
            "rediss:// (TLS) is not available: Debian 12's libhiredis 0.14.1 has no TLS; use "
            "redis:// over a private network or a tunnel (stunnel, WireGuard)";
        return std::nullopt;
    }
    if (!url.starts_with(kScheme) || url.size() > 1000) {
        why = "expected redis://[user[:password]@]host[:port][/db]";
        return std::nullopt;
    }
    std::string_view rest = url.substr(kScheme.size());
    RedisEndpoint endpoint;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        std::string_view credentials = rest.substr(0, at);
        rest.remove_prefix(at + 1);
        // user:password, :password (the default user), or user alone (its password
        // from XmlRpcGuardClusterPasswordFile).
        auto colon = credentials.find(':');
        endpoint.user = credentials.substr(0, colon);
        if (colon != std::string_view::npos) {
            endpoint.password = credentials.substr(colon + 1);
        }
    }
    std::string_view authority = rest.substr(0, rest.find('/'));
    if (authority.size() < rest.size()) {
        std::string_view db = rest.substr(authority.size() + 1);
        if (!db.empty() && !to_int(db, 0, 1000, endpoint.db)) {
            why = "the database must be a number from 0 to 1000";
            return std::nullopt;
        }
    }
    std::string_view host = authority;
    if (authority.starts_with('[')) {  // [2001:db8::1]:6379
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            why = "an IPv6 host is written [address]";
            return std::nullopt;
        }
        host = authority.substr(1, close - 1);
        std::string_view after = authority.substr(close + 1);
        if (!after.empty() &&
            (!after.starts_with(':') || !to_int(after.substr(1), 1, 65535, endpoint.port))) {
            why = "the port must be a number from 1 to 65535";
            return std::nullopt;
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        if (!to_int(authority.substr(colon + 1), 1, 65535, endpoint.port)) {
            why = "the port must be a number from 1 to 65535";
            return std::nullopt;
        }
    }
    if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), host_char)) {
        why = "expected a host name or address";
        return std::nullopt;
    }
    endpoint.host = host;
    return endpoint;
}

bool valid_redis_key_prefix(std::string_view prefix) {
    return !prefix.empty() && prefix.size() <= 64 &&
           std::all_of(prefix.begin(), prefix.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == ':' || c == '_' || c == '-' || c == '.';
           });
}

}  // namespace xmlrpcguard
