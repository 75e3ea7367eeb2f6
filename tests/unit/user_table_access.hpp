// What the unit tests need of UserTable's insides: which bucket a name falls in, and a
// record's stripe held by another thread (as a child, or PHP under mod_php, may hold it).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "xmlrpcguard/user_table.hpp"

namespace xmlrpcguard {

struct UserTableTestAccess {
    static std::size_t bucket(const UserTable& table, std::size_t slot, std::uint64_t name) {
        return table.bucket_of(table.vhost_id(slot), name);
    }

    // Holds the stripe of (slot, name) on a thread of its own until release().
    class HeldStripe {
      public:
        HeldStripe(const UserTable& table, std::size_t slot, std::uint64_t name)
            : holder_([this, &table, slot, name] {
                  auto* stripe = table.stripe(bucket(table, slot, name));
                  held_ = table.lock(stripe);
                  stage_ = 1;
                  while (stage_.load() != 2) {
                      std::this_thread::yield();
                  }
                  if (held_) {
                      UserTable::unlock(stripe);
                  }
              }) {
            while (stage_.load() != 1) {
                std::this_thread::yield();
            }
        }
        ~HeldStripe() { release(); }
        bool held() const { return held_; }
        void release() {
            stage_ = 2;
            if (holder_.joinable()) {
                holder_.join();
            }
        }

      private:
        std::atomic<int> stage_{0};
        bool held_ = false;
        std::thread holder_;
    };
};

}  // namespace xmlrpcguard
