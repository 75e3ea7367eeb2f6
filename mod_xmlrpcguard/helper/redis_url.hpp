// XmlRpcGuardCluster's URL, redis://[user[:password]@]host[:port][/db], read once at
// configuration time (configtest names what is wrong) and again by the helper.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace xmlrpcguard {

struct RedisEndpoint {
    std::string host;
    int port = 6379;
    int db = 0;
    std::string user;  // empty: AUTH with the password alone (Redis < 6 style, user "default")
    std::string password;
};

// nullopt with `why` set unless `url` is a plain redis:// URL. rediss:// (TLS) is
// refused: Debian 12's libhiredis 0.14.1 has no TLS.
std::optional<RedisEndpoint> parse_redis_url(std::string_view url, std::string& why);

// A key prefix: 1-64 bytes of letters, digits, ':', '_', '-', '.'.
bool valid_redis_key_prefix(std::string_view prefix);

inline constexpr const char* kDefaultRedisKeyPrefix = "xmlrpcguard:";

}  // namespace xmlrpcguard
