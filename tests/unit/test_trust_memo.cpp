// The trust memo (xmlrpcguard/trust_memo.hpp): a child's copy of the trusts it renewed
// spares the shared table's lookup, and never vouches for a trust the table no longer
// holds (displaced by another address, lifted, evicted). See docs/ARCHITECTURE.md,
// "The trust memo".
#define BOOST_TEST_MODULE trust_memo
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "user_table_access.hpp"
#include "xmlrpcguard/trust_memo.hpp"
#include "xmlrpcguard/user_table.hpp"

using namespace xmlrpcguard;

namespace {

struct Table {
    explicit Table(std::size_t capacity = 1024)
        : storage(UserTable::region_size(capacity) / 8 + 16),
          table(UserTable::attach(base(), UserTable::region_size(capacity), capacity).first) {}
    void* base() {
        return reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(storage.data()) + 63) &
                                       ~std::uintptr_t{63});
    }
    std::vector<std::uint64_t> storage;
    UserTable table;
};

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kTrustTime = 30 * 86400;  // 30 days: a refresh step of an hour
constexpr std::uint64_t kName = 0xA11CE;

Address at(int i) {
    return *Address::parse("198.18.0." + std::to_string(i));
}

// Trusted (written), looked up (remembered), then answered from the memo.
void remembered(TrustMemo& memo, UserTable& table, std::size_t vhost, const Address& who) {
    for (int i = 0; i < 3; ++i) {
        memo.renew(table, vhost, kName, who, kNow + i, kTrustTime);
    }
    BOOST_TEST(memo.recall(vhost, kName, who, table.trust_generation(vhost)) == kNow + kTrustTime);
}

// A table whose vhost 42 trusts the owner, and a memo that remembers it.
struct OwnerRemembered {
    OwnerRemembered() { remembered(*memo, t.table, vhost, owner); }
    Table t;
    std::size_t vhost = *t.table.vhost_slot(42);
    std::unique_ptr<TrustMemo> memo = std::make_unique<TrustMemo>();
    Address owner = at(7);
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_renewed_trust_is_answered_from_the_memo) {
    Table t;
    std::size_t vhost = *t.table.vhost_slot(42);
    auto memo = std::make_unique<TrustMemo>();
    Address owner = at(7);
    auto first = memo->renew(t.table, vhost, kName, owner, kNow, kTrustTime);
    BOOST_TEST(first.written);
    BOOST_TEST(first.was_until == 0);
    BOOST_TEST(!first.memo_hit);
    // Looked up (a write may be refused, so it is not remembered), then remembered.
    auto second = memo->renew(t.table, vhost, kName, owner, kNow + 1, kTrustTime);
    BOOST_TEST(!second.written);
    BOOST_TEST(!second.memo_hit);
    BOOST_TEST(second.was_until == kNow + kTrustTime);
    auto third = memo->renew(t.table, vhost, kName, owner, kNow + 2, kTrustTime);
    BOOST_TEST(third.memo_hit);
    BOOST_TEST(!third.written);
    BOOST_TEST(third.was_until == kNow + kTrustTime);
    BOOST_TEST(t.table.stats().trusts == 1u);
    // Past the refresh step (an hour) the trust is renewed in the table, as before.
    auto later = memo->renew(t.table, vhost, kName, owner, kNow + 3601, kTrustTime);
    BOOST_TEST(later.written);
    BOOST_TEST(later.was_until == kNow + kTrustTime);
    BOOST_TEST(t.table.trusted_until(vhost, kName, owner, kNow + 3601) == kNow + 3601 + kTrustTime);
    // Another address, another name, another vhost: each its own entry.
    BOOST_TEST(memo->renew(t.table, vhost, kName, at(8), kNow + 2, kTrustTime).written);
    BOOST_TEST(memo->renew(t.table, vhost, kName + 1, owner, kNow + 2, kTrustTime).written);
    BOOST_TEST(
        memo->renew(t.table, *t.table.vhost_slot(43), kName, owner, kNow + 2, kTrustTime).written);
}

// The owner's address loses its trust to a fifth address (four are kept per name).
// A child that remembered it must not skip the renewal: the owner, who has just
// logged in, would be locked out with the name under attack.
BOOST_FIXTURE_TEST_CASE(a_displaced_trust_is_never_hidden_by_the_memo, OwnerRemembered) {
    std::size_t other_vhost = *t.table.vhost_slot(43);
    remembered(*memo, t.table, other_vhost, owner);
    BOOST_TEST(memo->renew(t.table, vhost, kName, owner, kNow + 3, kTrustTime).memo_hit);
    // Four more addresses log in as the name, each later: the owner's ends first and
    // goes (another child did this; this child's memo was not told).
    for (int i = 1; i <= static_cast<int>(UserTable::kTrusted); ++i) {
        t.table.trust(vhost, kName, at(20 + i), kNow + 10 + i, kNow + 10 + i + kTrustTime);
    }
    BOOST_TEST(t.table.trusted_until(vhost, kName, owner, kNow + 20) == 0);
    auto after = memo->renew(t.table, vhost, kName, owner, kNow + 20, kTrustTime);
    BOOST_TEST(!after.memo_hit);
    BOOST_TEST(after.written);
    BOOST_TEST(after.was_until == 0);  // logged as a new trust (XRG0305)
    BOOST_TEST(t.table.trusted(vhost, kName, owner, kNow + 21));
    // A renewal of an address's own trust moves nothing: the other vhost's memo holds.
    BOOST_TEST(memo->renew(t.table, other_vhost, kName, owner, kNow + 20, kTrustTime).memo_hit);
}

// An operator lifts the trusts of a name (its password leaked): no child may go on
// treating an address as trusted from its memo.
BOOST_FIXTURE_TEST_CASE(a_lifted_trust_is_never_hidden_by_the_memo, OwnerRemembered) {
    t.table.lift_trust(vhost, kName);
    BOOST_TEST(!t.table.trusted(vhost, kName, owner, kNow + 5));
    BOOST_TEST(memo->recall(vhost, kName, owner, t.table.trust_generation(vhost)) == 0);
    auto after = memo->renew(t.table, vhost, kName, owner, kNow + 5, kTrustTime);
    BOOST_TEST(!after.memo_hit);
    BOOST_TEST(after.was_until == 0);
}

// A trust shortened (a graceful restart to a shorter XmlRpcGuardTrustTime) moves
// the generation too: the memo never reports an end later than the table's.
BOOST_FIXTURE_TEST_CASE(a_shortened_trust_is_never_overstated, OwnerRemembered) {
    std::uint32_t generation = t.table.trust_generation(vhost);
    t.table.trust(vhost, kName, owner, kNow + 4, kNow + 4 + 86400);
    BOOST_TEST(t.table.trust_generation(vhost) != generation);
    BOOST_TEST(memo->recall(vhost, kName, owner, t.table.trust_generation(vhost)) == 0);
}

// A record evicted for a new name moves the generation only if it held a trust (ended
// or not): a flood of made-up names, each evicting another, keeps no memo cold.
BOOST_AUTO_TEST_CASE(only_an_evicted_trust_moves_the_generation) {
    Table t(UserTable::kMinCapacity);
    std::size_t vhost = *t.table.vhost_slot(42);
    const UserRule rule{600, 5, 900};
    std::vector<std::uint64_t> same_bucket;
    std::size_t bucket = UserTableTestAccess::bucket(t.table, vhost, 1);
    for (std::uint64_t name = 1; same_bucket.size() < UserTable::kBucket + 2; ++name) {
        if (UserTableTestAccess::bucket(t.table, vhost, name) == bucket) {
            same_bucket.push_back(name);
        }
    }
    // The bucket full of names that failed once, never trusted.
    for (std::size_t i = 0; i < UserTable::kBucket; ++i) {
        BOOST_REQUIRE(t.table.record_failure(vhost, same_bucket[i], kNow + i, rule).recorded);
    }
    std::uint32_t generation = t.table.trust_generation(vhost);
    BOOST_REQUIRE(t.table.record_failure(vhost, same_bucket[8], kNow + 10, rule).recorded);
    BOOST_TEST(t.table.trust_generation(vhost) == generation);  // an untrusted name went
    // The least recently active record now trusted for a while; once that has ended it
    // is the one evicted, and the generation moves.
    std::uint64_t oldest = same_bucket[1];
    t.table.trust(vhost, oldest, at(7), kNow + 1, kNow + 20);
    generation = t.table.trust_generation(vhost);
    BOOST_REQUIRE(t.table.record_failure(vhost, same_bucket[9], kNow + 30, rule).recorded);
    BOOST_TEST(t.table.trust_generation(vhost) != generation);
}

// Threads of one child share the memo: a torn entry is a miss, never an end paired
// with another write's generation.
BOOST_AUTO_TEST_CASE(threads_share_the_memo_without_tearing) {
    auto memo = std::make_unique<TrustMemo>();
    Address who = at(7);
    std::atomic<int> torn{0};
    std::atomic<int> hits{0};
    std::vector<std::thread> threads;
    for (std::uint32_t n = 1; n <= 4; ++n) {
        threads.emplace_back([&, n] {
            for (int i = 0; i < 20000; ++i) {
                // One entry, written by every thread with its own generation and end.
                memo->remember(1, kName, who, n, kNow + n);
                std::int64_t seen = memo->recall(1, kName, who, n);
                if (seen != 0 && seen != kNow + n) {
                    torn.fetch_add(1);
                }
                hits.fetch_add(seen != 0 ? 1 : 0);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    BOOST_TEST(torn.load() == 0);
    BOOST_TEST(hits.load() > 0);
}
