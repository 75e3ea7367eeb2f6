// One synchronous connection to Redis (libhiredis 0.14.1), owned by one thread of the
// ban helper. Every call has a deadline (connect and socket timeouts), so a Redis
// that is down or slow costs the calling thread at most that long and never the
// helper's event loop, which does not talk to Redis at all.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "redis_url.hpp"

struct redisContext;
struct redisReply;

namespace xmlrpcguard {

struct RedisReplyFree {
    void operator()(redisReply* reply) const noexcept;
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyFree>;

class RedisConnection {
  public:
    RedisConnection() = default;
    RedisConnection(RedisConnection&&) noexcept;
    RedisConnection& operator=(RedisConnection&&) noexcept;
    ~RedisConnection();

    // Connects, authenticates and selects the database; false with `error` set.
    bool open(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout, std::string& error);
    void close() noexcept;
    bool is_open() const noexcept { return context_ != nullptr; }

    // A command as separate arguments (binary-safe). Null with `error` set when the
    // connection failed (it is closed then); a Redis error reply is returned as such.
    RedisReply command(std::span<const std::string_view> arguments, std::string& error);
    RedisReply command(std::initializer_list<std::string_view> arguments, std::string& error) {
        return command(std::span<const std::string_view>(arguments.begin(), arguments.size()),
                       error);
    }

    // The socket's read/write timeout from now on (a blocking XREAD needs longer).
    void set_timeout(std::chrono::milliseconds timeout) noexcept;

  private:
    redisContext* context_ = nullptr;
};

// The text of an error or status reply; empty for other kinds.
std::string_view reply_text(const redisReply* reply) noexcept;
bool reply_is_error(const redisReply* reply) noexcept;

}  // namespace xmlrpcguard
