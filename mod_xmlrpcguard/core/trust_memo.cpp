#include "xmlrpcguard/trust_memo.hpp"

#include <algorithm>
#include <cstring>

namespace xmlrpcguard {

namespace {

struct Key {
    std::uint64_t high;
    std::uint64_t low;
};

Key key_of(const Address& who) noexcept {
    Key key{};
    std::memcpy(&key.high, who.bytes.data(), 8);
    std::memcpy(&key.low, who.bytes.data() + 8, 8);
    return key;
}

std::uint64_t pack(std::size_t vhost, std::int64_t until) noexcept {
    auto end = static_cast<std::uint64_t>(std::clamp<std::int64_t>(until, 0, 0xFFFFFFFFLL));
    return (static_cast<std::uint64_t>(vhost) << 32) | end;
}

}  // namespace

std::size_t TrustMemo::index(std::size_t vhost, std::uint64_t name, std::uint64_t key_high,
                             std::uint64_t key_low) noexcept {
    // The name is a keyed hash already; the address only spreads one name's clients.
    std::uint64_t mixed = name ^ (key_low * 0x9E3779B97F4A7C15ULL) ^ (key_high >> 7) ^ vhost;
    mixed ^= mixed >> 29;
    return static_cast<std::size_t>(mixed % kEntries);
}

std::int64_t TrustMemo::recall(std::size_t vhost, std::uint64_t name, const Address& who,
                               std::uint32_t generation) const noexcept {
    Key key = key_of(who);
    const Entry& e = entries_[index(vhost, name, key.high, key.low)];
    std::uint32_t before = e.seq.load(std::memory_order_acquire);
    if (before & 1) {
        return 0;
    }
    bool same = e.generation.load(std::memory_order_relaxed) == generation &&
                e.name.load(std::memory_order_relaxed) == name &&
                e.key_high.load(std::memory_order_relaxed) == key.high &&
                e.key_low.load(std::memory_order_relaxed) == key.low;
    std::uint64_t vhost_until = e.vhost_until.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (!same || e.seq.load(std::memory_order_relaxed) != before || (vhost_until >> 32) != vhost) {
        return 0;
    }
    return static_cast<std::int64_t>(vhost_until & 0xFFFFFFFFULL);
}

void TrustMemo::remember(std::size_t vhost, std::uint64_t name, const Address& who,
                         std::uint32_t generation, std::int64_t until) noexcept {
    Key key = key_of(who);
    Entry& e = entries_[index(vhost, name, key.high, key.low)];
    std::uint32_t seq = e.seq.load(std::memory_order_relaxed);
    if ((seq & 1) || !e.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire)) {
        return;  // another thread writes it: a memo may forget
    }
    std::atomic_thread_fence(std::memory_order_release);
    e.generation.store(generation, std::memory_order_relaxed);
    e.name.store(name, std::memory_order_relaxed);
    e.key_high.store(key.high, std::memory_order_relaxed);
    e.key_low.store(key.low, std::memory_order_relaxed);
    e.vhost_until.store(until > 0 ? pack(vhost, until) : 0, std::memory_order_relaxed);
    e.seq.store(seq + 2, std::memory_order_release);
}

TrustRenewal TrustMemo::renew(UserTable& table, std::size_t vhost, std::uint64_t name,
                              const Address& who, std::int64_t now,
                              std::int64_t trust_time) noexcept {
    TrustRenewal out;
    std::int64_t refresh = std::min<std::int64_t>(3600, trust_time / 16);
    std::int64_t fresh_enough = now + trust_time - refresh;
    // Read before the lookup it vouches for: a trust taken away after this reading
    // moves it, and the entry stops answering.
    std::uint32_t generation = table.trust_generation(vhost);
    std::int64_t until = recall(vhost, name, who, generation);
    if (until != 0 && until >= fresh_enough) {
        out.was_until = until;
        out.memo_hit = true;
        return out;
    }
    until = table.trusted_until(vhost, name, who, now);
    out.was_until = until;
    if (until != 0 && until >= fresh_enough) {
        remember(vhost, name, who, generation, until);
        return out;
    }
    // Not remembered: the write may have been refused (a bucket of only locked or
    // trusted names, a stripe not had in time); the next success looks it up.
    table.trust(vhost, name, who, now, now + trust_time);
    out.written = true;
    return out;
}

}  // namespace xmlrpcguard
