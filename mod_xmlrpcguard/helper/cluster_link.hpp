// The ban helper's link to the fleet (XmlRpcGuardCluster): two threads of its own, so
// that the helper's event loop never waits on the network.
//
// * The writer takes offence reports from a bounded queue (oldest offences dropped
//   and counted when Redis is away; commands never) and sends them in batches, one
//   EVALSHA per batch: for each (address, prefix) a sorted set of offence times in
//   Redis is added to, trimmed to findtime and counted, and when it reaches maxretry
//   the ban is appended to the fleet's stream (XADD, MAXLEN ~), all in one atomic
//   script. The operator's ban, unban and flush are appended as they are.
// * The reader follows the stream (XREAD BLOCK on a connection of its own) from
//   where it left off and hands each entry to the loop through a bounded queue and
//   an eventfd; the loop judges and applies it (ClusterNode).
//
// Redis down or slow: every call has a deadline; a lost connection is retried with
// an exponential backoff; meanwhile the node bans on its own windows alone.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "redis_url.hpp"
#include "xmlrpcguard/guard_counters.hpp"
#include "xmlrpcguard/offence_report.hpp"
#include "xmlrpcguard/user_table.hpp"

namespace xmlrpcguard {

struct ClusterLinkSettings {
    RedisEndpoint endpoint;
    std::string key_prefix = kDefaultRedisKeyPrefix;
    std::string node;                        // this node's name in the stream
    std::string resume_from;                 // a stream id, or empty: from catch_up ago
    std::uint32_t catch_up_seconds = 86400;  // how far back a node without an id reads
    std::size_t queue_limit = 65536;         // offences waiting for Redis
    std::size_t batch_limit = 512;           // offences per EVALSHA
    std::size_t incoming_limit = 4096;       // entries waiting for the loop
    std::uint32_t stream_maxlen = 100000;    // XADD MAXLEN ~
    std::chrono::milliseconds io_timeout{1000};
    std::chrono::milliseconds block{1000};  // XREAD BLOCK
    std::chrono::milliseconds backoff_first{100};
    std::chrono::milliseconds backoff_max{5000};
};

// A stream entry as read: its id and its field/value pairs, not yet judged.
struct ClusterEntry {
    std::string id;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string_view field(std::string_view name) const noexcept;
};

// A change made by the operator here, for every other node.
struct ClusterCommand {
    enum class Op : std::uint8_t { Ban, Unban, Flush };
    Op op = Op::Ban;
    std::string address;  // the key as text ("198.18.7.10", "2001:db8:7::")
    unsigned prefix = 32;
    std::int64_t until = 0;  // ban
    std::string reason = "manual";
};

// A failure of one user name for the fleet's window (fleet_names.hpp): its fleet hash,
// never the name, and the vhost's rule.
struct NameFailure {
    std::uint64_t fleet = 0;
    UserRule rule;
};

// What the link tells its owner (the glue logs it), from the link's own threads.
class ClusterEvents {
  public:
    virtual void link_up() = 0;
    virtual void link_down(std::string_view why) = 0;
    virtual void offences_dropped(std::uint64_t total) = 0;

  protected:
    ~ClusterEvents() = default;
};

class ClusterLink {
  public:
    // `counters` may be null. The threads start at once.
    ClusterLink(ClusterLinkSettings settings, GuardCounters* counters, ClusterEvents& events);
    ~ClusterLink();  // stops and joins both threads (at most about io_timeout + block)
    ClusterLink(const ClusterLink&) = delete;
    ClusterLink& operator=(const ClusterLink&) = delete;

    void offer(const OffenceReport& report);  // never blocks
    void publish(ClusterCommand command);     // never blocks, never dropped
    // A user name's failure: never blocks; the oldest dropped when the queue is full.
    void offer_name(const NameFailure& failure);

    int ready_fd() const noexcept { return ready_fd_; }  // readable: entries to take
    // At most `most` entries, oldest first; ready_fd stays readable while more wait, so
    // the loop takes a bounded share per turn and serves the channel in between.
    std::vector<ClusterEntry> take(std::size_t most = SIZE_MAX);

    bool connected() const noexcept { return writer_up_ && reader_up_; }

    // The Lua script run per batch (public for the unit tests' reading).
    static std::string_view script() noexcept;
    static std::string_view name_script() noexcept;  // per batch of name failures

  private:
    void write_loop();
    void read_loop();
    void set_up(std::atomic<bool>& which, bool up, std::string_view why);
    bool wait_backoff(std::chrono::milliseconds& backoff);
    // One thread's connection broke (or never came): closed, said, waited out with a
    // growing backoff. False when the link is stopping.
    bool lost(std::atomic<bool>& which, class RedisConnection& redis,
              std::chrono::milliseconds& backoff, std::string_view why);
    bool send_batch(class RedisConnection& redis, std::string& sha,
                    const std::vector<OffenceReport>& batch, std::string& error);
    bool send_command(class RedisConnection& redis, const ClusterCommand& command,
                      std::string& error);
    bool send_names(class RedisConnection& redis, std::string& sha,
                    const std::vector<NameFailure>& batch, std::string& error);

    ClusterLinkSettings settings_;
    GuardCounters* counters_;
    ClusterEvents& events_;
    int ready_fd_ = -1;

    std::mutex mutex_;              // guards everything below until the threads
    std::condition_variable work_;  // offences or commands for the writer
    std::condition_variable room_;  // the loop took entries
    std::condition_variable stop_;  // only for stopping_: a backoff is not woken by work
    std::deque<OffenceReport> offences_;
    std::deque<ClusterCommand> commands_;
    std::deque<NameFailure> names_;
    std::deque<ClusterEntry> incoming_;
    std::uint64_t dropped_ = 0;
    bool stopping_ = false;
    std::atomic<bool> writer_up_{false};
    std::atomic<bool> reader_up_{false};
    std::mutex state_mutex_;
    int said_ = -1;  // under state_mutex_: the state last told (-1 none yet, 0 down, 1 up)

    std::thread writer_;
    std::thread reader_;
};

}  // namespace xmlrpcguard
