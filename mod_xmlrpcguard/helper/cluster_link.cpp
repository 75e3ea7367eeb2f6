#include "cluster_link.hpp"

#include <hiredis/hiredis.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "redis_connection.hpp"

namespace xmlrpcguard {

namespace {

// What both scripts start with: their three first arguments, Redis's clock in
// milliseconds, and a sequence number that makes each batch's members unique.
#define XRG_SCRIPT_PRELUDE                                                    \
    "local p, node, maxlen = ARGV[1], ARGV[2], ARGV[3]\n"                     \
    "local t = redis.call('TIME')\n"                                          \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
    "local seq = redis.call('INCR', p .. 'seq')"

// One batch, atomically. ARGV: key prefix, node, stream MAXLEN, then 7 per report:
// address, prefix length, count, findtime, maxretry, bantime, reason. Redis's own
// clock times the offences, so the nodes' clocks need not agree for the window. A
// crossing empties the window (a ban consumes the offences that led to it, as in the
// node's own table) and is appended to the stream; the script returns how many.
constexpr std::string_view kScript = XRG_SCRIPT_PRELUDE R"lua(
local crossed = 0
for i = 4, #ARGV, 7 do
  local addr, plen, reason = ARGV[i], ARGV[i + 1], ARGV[i + 6]
  local count, findtime = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local maxretry, bantime = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  local w = p .. 'w:' .. addr .. '/' .. plen
  for n = 1, count do
    redis.call('ZADD', w, now, node .. ':' .. seq .. ':' .. i .. ':' .. n)
  end
  redis.call('ZREMRANGEBYSCORE', w, '-inf', '(' .. string.format('%d', now - findtime * 1000))
  if redis.call('ZCARD', w) >= maxretry then
    redis.call('DEL', w)
    local untl = string.format('%d', math.floor(now / 1000) + bantime)
    redis.call('XADD', p .. 'bans', 'MAXLEN', '~', maxlen, '*', 'op', 'ban', 'node', node,
               'addr', addr, 'prefix', plen, 'until', untl, 'reason', reason)
    crossed = crossed + 1
  else
    redis.call('PEXPIRE', w, findtime * 1000)
  end
end
return crossed
)lua";

// One batch of user-name failures, atomically. ARGV: key prefix, node, stream MAXLEN,
// then 4 per failure: fleet hash (hex), findtime, maxretry, locktime. Per `u:HASH` a
// sorted set of failure times (Redis's clock), trimmed to findtime and to its newest
// maxretry + 1; more than maxretry lock the name: a `lock` entry on the stream, at most
// one per name every locktime / 4 (`ul:HASH`), so an attack that goes on keeps the name
// locked everywhere without an entry per attempt. Returns how many lock entries.
constexpr std::string_view kNameScript = XRG_SCRIPT_PRELUDE R"lua(
local locked = 0
for i = 4, #ARGV, 4 do
  local name = ARGV[i]
  local findtime, maxretry, locktime = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]),
                                       tonumber(ARGV[i + 3])
  local u = p .. 'u:' .. name
  redis.call('ZADD', u, now, node .. ':' .. seq .. ':' .. i)
  redis.call('ZREMRANGEBYSCORE', u, '-inf', '(' .. string.format('%d', now - findtime * 1000))
  redis.call('ZREMRANGEBYRANK', u, 0, -(maxretry + 2))
  redis.call('PEXPIRE', u, findtime * 1000)
  if redis.call('ZCARD', u) > maxretry then
    local again = math.max(1, math.floor(locktime / 4))
    if redis.call('SET', p .. 'ul:' .. name, '1', 'NX', 'EX', again) then
      local untl = string.format('%d', math.floor(now / 1000) + locktime)
      redis.call('XADD', p .. 'bans', 'MAXLEN', '~', maxlen, '*', 'op', 'lock', 'node', node,
                 'name', name, 'until', untl)
      locked = locked + 1
    end
  end
end
return locked
)lua";

// EVALSHA of `owned` (its [1] the sha); after NOSCRIPT (Redis restarted, or SCRIPT
// FLUSH) the script is loaded again, once. An integer reply, or null with `error`.
RedisReply run_script(RedisConnection& redis, std::string& sha, std::string_view script,
                      std::vector<std::string>& owned, std::string& error) {
    std::vector<std::string_view> arguments(owned.begin(), owned.end());
    RedisReply reply = redis.command(arguments, error);
    if (reply && reply_is_error(reply.get()) && reply_text(reply.get()).starts_with("NOSCRIPT")) {
        RedisReply loaded = redis.command({"SCRIPT", "LOAD", script}, error);
        if (!loaded || loaded->type != REDIS_REPLY_STRING) {
            error = loaded ? std::string(reply_text(loaded.get())) : error;
            return nullptr;
        }
        sha.assign(loaded->str, loaded->len);
        owned[1] = sha;
        arguments.assign(owned.begin(), owned.end());
        reply = redis.command(arguments, error);
    }
    if (!reply || reply->type != REDIS_REPLY_INTEGER) {
        if (reply) {
            error = "script: " + std::string(reply_text(reply.get()));
        }
        return nullptr;
    }
    return reply;
}

std::string initial_id(const ClusterLinkSettings& settings) {
    if (!settings.resume_from.empty()) {
        return settings.resume_from;
    }
    std::int64_t from = static_cast<std::int64_t>(std::time(nullptr)) - settings.catch_up_seconds;
    return std::to_string(std::max<std::int64_t>(0, from) * 1000) + "-0";
}

void add(GuardCounters* counters, Counter which, std::uint64_t n = 1) {
    if (counters && n) {
        counters->add(which, n);
    }
}

// XREAD's answer: [[stream, [[id, [field, value, ...]], ...]]]
void collect_entries(const redisReply* reply, std::vector<ClusterEntry>& out) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }
    for (std::size_t s = 0; s < reply->elements; ++s) {
        const redisReply* stream = reply->element[s];
        if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
            stream->element[1]->type != REDIS_REPLY_ARRAY) {
            continue;
        }
        const redisReply* entries = stream->element[1];
        for (std::size_t e = 0; e < entries->elements; ++e) {
            const redisReply* entry = entries->element[e];
            if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
                entry->element[0]->type != REDIS_REPLY_STRING) {
                continue;
            }
            ClusterEntry item;
            item.id.assign(entry->element[0]->str, entry->element[0]->len);
            const redisReply* fields = entry->element[1];
            if (fields->type == REDIS_REPLY_ARRAY) {
                for (std::size_t f = 0; f + 1 < fields->elements && f < 64; f += 2) {
                    const redisReply* name = fields->element[f];
                    const redisReply* value = fields->element[f + 1];
                    if (name->type == REDIS_REPLY_STRING && value->type == REDIS_REPLY_STRING) {
                        item.fields.emplace_back(
                            std::string(name->str, std::min<std::size_t>(name->len, 64)),
                            std::string(value->str, std::min<std::size_t>(value->len, 256)));
                    }
                }
            }
            out.push_back(std::move(item));
        }
    }
}

}  // namespace

std::string_view ClusterEntry::field(std::string_view name) const noexcept {
    for (const auto& [key, value] : fields) {
        if (key == name) {
            return value;
        }
    }
    return {};
}

std::string_view ClusterLink::script() noexcept {
    return kScript;
}

std::string_view ClusterLink::name_script() noexcept {
    return kNameScript;
}

ClusterLink::ClusterLink(ClusterLinkSettings settings, GuardCounters* counters,
                         ClusterEvents& events)
    : settings_(std::move(settings)), counters_(counters), events_(events) {
    ready_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ready_fd_ < 0) {
        throw std::runtime_error("eventfd failed");
    }
    if (counters_) {
        counters_->set(Counter::ClusterConnected, 0);
        counters_->set(Counter::ClusterStateSince, static_cast<std::uint64_t>(std::time(nullptr)));
    }
    writer_ = std::thread([this] { write_loop(); });
    reader_ = std::thread([this] { read_loop(); });
}

ClusterLink::~ClusterLink() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_.notify_all();
    room_.notify_all();
    stop_.notify_all();
    writer_.join();
    reader_.join();
    close(ready_fd_);
}

void ClusterLink::offer(const OffenceReport& report) {
    std::uint64_t dropped = 0;
    {
        std::lock_guard lock(mutex_);
        if (offences_.size() >= settings_.queue_limit) {
            offences_.pop_front();  // the oldest: the least likely to still matter
            dropped = ++dropped_;
            add(counters_, Counter::ClusterOffencesDropped);
        }
        offences_.push_back(report);
    }
    work_.notify_one();
    if (dropped && (dropped & (dropped - 1)) == 0) {  // 1, 2, 4, 8, ...: the log stays short
        events_.offences_dropped(dropped);
    }
}

void ClusterLink::offer_name(const NameFailure& failure) {
    std::uint64_t dropped = 0;
    {
        std::lock_guard lock(mutex_);
        if (names_.size() >= settings_.queue_limit) {
            names_.pop_front();
            dropped = ++dropped_;
            add(counters_, Counter::ClusterOffencesDropped);
        }
        names_.push_back(failure);
    }
    work_.notify_one();
    if (dropped && (dropped & (dropped - 1)) == 0) {
        events_.offences_dropped(dropped);
    }
}

void ClusterLink::publish(ClusterCommand command) {
    {
        std::lock_guard lock(mutex_);
        commands_.push_back(std::move(command));
    }
    work_.notify_one();
}

std::vector<ClusterEntry> ClusterLink::take(std::size_t most) {
    std::uint64_t ignored;
    (void)!read(ready_fd_, &ignored, sizeof ignored);  // first: a later push writes again
    std::vector<ClusterEntry> out;
    bool more = false;
    {
        std::lock_guard lock(mutex_);
        auto end =
            incoming_.begin() + static_cast<std::ptrdiff_t>(std::min(most, incoming_.size()));
        out.assign(std::make_move_iterator(incoming_.begin()), std::make_move_iterator(end));
        incoming_.erase(incoming_.begin(), end);
        more = !incoming_.empty();
    }
    if (more) {
        std::uint64_t one = 1;
        (void)!write(ready_fd_, &one, sizeof one);  // the rest at the next turn
    }
    room_.notify_all();
    return out;
}

void ClusterLink::set_up(std::atomic<bool>& which, bool up, std::string_view why) {
    std::lock_guard lock(state_mutex_);
    which = up;
    int now_up = writer_up_ && reader_up_ ? 1 : 0;
    if (!now_up && why.empty()) {
        return;  // one connection is up and the other still connecting: nothing went down
    }
    if (now_up == said_) {
        return;  // said already (the first failure to connect is said too)
    }
    said_ = now_up;
    if (counters_) {
        counters_->set(Counter::ClusterConnected, now_up ? 1 : 0);
        counters_->set(Counter::ClusterStateSince, static_cast<std::uint64_t>(std::time(nullptr)));
    }
    if (now_up) {
        events_.link_up();
    } else {
        events_.link_down(why);
    }
}

bool ClusterLink::lost(std::atomic<bool>& which, RedisConnection& redis,
                       std::chrono::milliseconds& backoff, std::string_view why) {
    redis.close();
    set_up(which, false, why);
    return wait_backoff(backoff);
}

bool ClusterLink::wait_backoff(std::chrono::milliseconds& backoff) {
    std::unique_lock lock(mutex_);
    stop_.wait_for(lock, backoff, [this] { return stopping_; });
    backoff = std::min(backoff * 2, settings_.backoff_max);
    return !stopping_;
}

bool ClusterLink::send_batch(RedisConnection& redis, std::string& sha,
                             const std::vector<OffenceReport>& batch, std::string& error) {
    std::vector<std::string> owned;
    owned.reserve(6 + 7 * batch.size());
    owned.insert(owned.end(), {"EVALSHA", sha, "0", settings_.key_prefix, settings_.node,
                               std::to_string(settings_.stream_maxlen)});
    std::uint64_t offences = 0;
    for (const OffenceReport& report : batch) {
        owned.push_back(report.key.to_string());
        owned.push_back(std::to_string(report.prefix));
        owned.push_back(std::to_string(report.count));
        owned.push_back(std::to_string(report.rule.findtime));
        owned.push_back(std::to_string(report.rule.maxretry));
        owned.push_back(std::to_string(report.bantime));
        owned.push_back(to_string(report.reason));
        offences += report.count;
    }
    RedisReply reply = run_script(redis, sha, kScript, owned, error);
    if (!reply) {
        return false;
    }
    add(counters_, Counter::ClusterOffencesSent, offences);
    add(counters_, Counter::ClusterBansPublished, static_cast<std::uint64_t>(reply->integer));
    return true;
}

bool ClusterLink::send_names(RedisConnection& redis, std::string& sha,
                             const std::vector<NameFailure>& batch, std::string& error) {
    std::vector<std::string> owned;
    owned.reserve(6 + 4 * batch.size());
    owned.insert(owned.end(), {"EVALSHA", sha, "0", settings_.key_prefix, settings_.node,
                               std::to_string(settings_.stream_maxlen)});
    for (const NameFailure& failure : batch) {
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(failure.fleet));
        owned.emplace_back(hex);
        owned.push_back(std::to_string(failure.rule.findtime));
        owned.push_back(std::to_string(failure.rule.maxretry));
        owned.push_back(std::to_string(failure.rule.locktime));
    }
    return run_script(redis, sha, kNameScript, owned, error) != nullptr;
}

bool ClusterLink::send_command(RedisConnection& redis, const ClusterCommand& command,
                               std::string& error) {
    std::string stream = settings_.key_prefix + "bans";
    std::string maxlen = std::to_string(settings_.stream_maxlen);
    std::string prefix = std::to_string(command.prefix);
    std::string until = std::to_string(command.until);
    RedisReply reply;
    switch (command.op) {
        case ClusterCommand::Op::Ban:
            reply = redis.command({"XADD", stream, "MAXLEN", "~", maxlen, "*", "op", "ban", "node",
                                   settings_.node, "addr", command.address, "prefix", prefix,
                                   "until", until, "reason", command.reason},
                                  error);
            break;
        case ClusterCommand::Op::Unban: {
            // Its window goes too, so that the fleet starts counting it afresh.
            std::string window = settings_.key_prefix + "w:" + command.address + "/" + prefix;
            RedisReply deleted = redis.command({"DEL", window}, error);
            if (!deleted) {
                return false;
            }
            reply =
                redis.command({"XADD", stream, "MAXLEN", "~", maxlen, "*", "op", "unban", "node",
                               settings_.node, "addr", command.address, "prefix", prefix},
                              error);
            break;
        }
        case ClusterCommand::Op::Flush:
            reply = redis.command(
                {"XADD", stream, "MAXLEN", "~", maxlen, "*", "op", "flush", "node", settings_.node},
                error);
            break;
    }
    if (!reply || reply_is_error(reply.get())) {
        if (reply) {
            error = "XADD: " + std::string(reply_text(reply.get()));
        }
        return false;
    }
    return true;
}

void ClusterLink::write_loop() {
    RedisConnection redis;
    std::string sha;
    std::string name_sha;
    auto backoff = settings_.backoff_first;
    for (;;) {
        std::string error;
        if (!redis.is_open()) {
            RedisReply loaded, names;
            if (redis.open(settings_.endpoint, settings_.io_timeout, error)) {
                loaded = redis.command({"SCRIPT", "LOAD", kScript}, error);
                names = redis.command({"SCRIPT", "LOAD", kNameScript}, error);
            }
            if (loaded && names && names->type == REDIS_REPLY_STRING) {
                name_sha.assign(names->str, names->len);
            } else if (loaded && loaded->type == REDIS_REPLY_STRING) {
                loaded = std::move(names);  // said below as the failure it is
            }
            if (!loaded || loaded->type != REDIS_REPLY_STRING) {
                if (loaded) {
                    error = "SCRIPT LOAD: " + std::string(reply_text(loaded.get()));
                }
                if (!lost(writer_up_, redis, backoff, error)) {
                    return;
                }
                continue;
            }
            sha.assign(loaded->str, loaded->len);
            backoff = settings_.backoff_first;
            set_up(writer_up_, true, {});
        }
        std::vector<ClusterCommand> commands;
        std::vector<OffenceReport> batch;
        std::vector<NameFailure> names;
        bool idle = false;
        {
            std::unique_lock lock(mutex_);
            idle = !work_.wait_for(lock, std::chrono::seconds(1), [this] {
                return stopping_ || !offences_.empty() || !commands_.empty() || !names_.empty();
            });
            if (stopping_) {
                return;
            }
            commands.assign(commands_.begin(), commands_.end());
            commands_.clear();
            std::size_t n = std::min(offences_.size(), settings_.batch_limit);
            batch.assign(offences_.begin(), offences_.begin() + static_cast<std::ptrdiff_t>(n));
            offences_.erase(offences_.begin(), offences_.begin() + static_cast<std::ptrdiff_t>(n));
            n = std::min(names_.size(), settings_.batch_limit);
            names.assign(names_.begin(), names_.begin() + static_cast<std::ptrdiff_t>(n));
            names_.erase(names_.begin(), names_.begin() + static_cast<std::ptrdiff_t>(n));
        }
        bool ok = true;
        bool batch_sent = false;
        std::size_t sent = 0;
        for (; sent < commands.size() && ok; ++sent) {
            ok = send_command(redis, commands[sent], error);
        }
        if (!ok) {
            --sent;  // the failed one goes back too
        }
        if (ok && !batch.empty()) {
            ok = send_batch(redis, sha, batch, error);
            batch_sent = ok;
        }
        if (ok && !names.empty()) {
            ok = send_names(redis, name_sha, names, error);
        } else if (ok && idle && batch.empty()) {
            RedisReply pong = redis.command({"PING"}, error);  // notice a Redis gone quiet
            ok = pong && !reply_is_error(pong.get());
        }
        if (!ok) {
            // Back to the front, in order; offences within the queue's bound (a batch
            // Redis may have applied before the link broke is counted twice then).
            std::lock_guard lock(mutex_);
            commands_.insert(commands_.begin(),
                             commands.begin() + static_cast<std::ptrdiff_t>(sent), commands.end());
            if (!batch_sent) {
                offences_.insert(offences_.begin(), batch.begin(), batch.end());
            }
            names_.insert(names_.begin(), names.begin(), names.end());
            while (offences_.size() > settings_.queue_limit) {
                offences_.pop_front();
                ++dropped_;
                add(counters_, Counter::ClusterOffencesDropped);
            }
            while (names_.size() > settings_.queue_limit) {
                names_.pop_front();
                ++dropped_;
                add(counters_, Counter::ClusterOffencesDropped);
            }
        }
        if (!ok) {
            if (!lost(writer_up_, redis, backoff, error)) {
                return;
            }
        }
    }
}

void ClusterLink::read_loop() {
    RedisConnection redis;
    std::string last = initial_id(settings_);
    std::string stream = settings_.key_prefix + "bans";
    std::string block = std::to_string(settings_.block.count());
    auto backoff = settings_.backoff_first;
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                return;
            }
        }
        std::string error;
        if (!redis.is_open()) {
            if (!redis.open(settings_.endpoint, settings_.io_timeout, error)) {
                if (!lost(reader_up_, redis, backoff, error)) {
                    return;
                }
                continue;
            }
            redis.set_timeout(settings_.io_timeout + settings_.block);
            backoff = settings_.backoff_first;
            set_up(reader_up_, true, {});
        }
        RedisReply reply = redis.command(
            {"XREAD", "COUNT", "256", "BLOCK", block, "STREAMS", stream, last}, error);
        if (!reply || reply_is_error(reply.get())) {
            if (reply) {
                error = "XREAD: " + std::string(reply_text(reply.get()));
            }
            if (!lost(reader_up_, redis, backoff, error)) {
                return;
            }
            continue;
        }
        std::vector<ClusterEntry> entries;
        collect_entries(reply.get(), entries);
        if (entries.empty()) {
            continue;
        }
        last = entries.back().id;
        {
            std::unique_lock lock(mutex_);
            room_.wait(lock,
                       [this] { return stopping_ || incoming_.size() < settings_.incoming_limit; });
            if (stopping_) {
                return;
            }
            for (ClusterEntry& entry : entries) {
                incoming_.push_back(std::move(entry));
            }
        }
        std::uint64_t one = 1;
        (void)!write(ready_fd_, &one, sizeof one);
    }
}

}  // namespace xmlrpcguard
