#include "redis_connection.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <utility>

namespace xmlrpcguard {

namespace {

timeval to_timeval(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    return tv;
}

}  // namespace

void RedisReplyFree::operator()(redisReply* reply) const noexcept {
    freeReplyObject(reply);
}

std::string_view reply_text(const redisReply* reply) noexcept {
    if (!reply || (reply->type != REDIS_REPLY_ERROR && reply->type != REDIS_REPLY_STATUS &&
                   reply->type != REDIS_REPLY_STRING)) {
        return {};
    }
    return {reply->str, reply->len};
}

bool reply_is_error(const redisReply* reply) noexcept {
    return reply && reply->type == REDIS_REPLY_ERROR;
}

RedisConnection::RedisConnection(RedisConnection&& other) noexcept
    : context_(std::exchange(other.context_, nullptr)) {}

RedisConnection& RedisConnection::operator=(RedisConnection&& other) noexcept {
    if (this != &other) {
        close();
        context_ = std::exchange(other.context_, nullptr);
    }
    return *this;
}

RedisConnection::~RedisConnection() {
    close();
}

void RedisConnection::close() noexcept {
    if (context_) {
        redisFree(context_);
        context_ = nullptr;
    }
}

void RedisConnection::set_timeout(std::chrono::milliseconds timeout) noexcept {
    if (context_) {
        redisSetTimeout(context_, to_timeval(timeout));
    }
}

bool RedisConnection::open(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout,
                           std::string& error) {
    close();
    redisContext* context =
        redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, to_timeval(timeout));
    if (!context || context->err) {
        error = context ? context->errstr : "cannot allocate a connection";
        if (context) {
            redisFree(context);
        }
        return false;
    }
    context_ = context;
    set_timeout(timeout);
    if (!endpoint.password.empty()) {
        RedisReply reply = endpoint.user.empty()
                               ? command({"AUTH", endpoint.password}, error)
                               : command({"AUTH", endpoint.user, endpoint.password}, error);
        if (!reply || reply_is_error(reply.get())) {
            error = "AUTH refused: " + (reply ? std::string(reply_text(reply.get())) : error);
            close();
            return false;
        }
    }
    if (endpoint.db != 0) {
        std::string db = std::to_string(endpoint.db);
        RedisReply reply = command({"SELECT", db}, error);
        if (!reply || reply_is_error(reply.get())) {
            error = "SELECT refused: " + (reply ? std::string(reply_text(reply.get())) : error);
            close();
            return false;
        }
    }
    return true;
}

RedisReply RedisConnection::command(std::span<const std::string_view> arguments,
                                    std::string& error) {
    if (!context_) {
        error = "not connected";
        return nullptr;
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(arguments.size());
    lengths.reserve(arguments.size());
    for (std::string_view argument : arguments) {
        argv.push_back(argument.data());
        lengths.push_back(argument.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (!reply) {
        error = context_->err ? context_->errstr : "no reply";
        close();
        return nullptr;
    }
    return RedisReply(reply);
}

}  // namespace xmlrpcguard
