// Pieces every table in shared memory uses (the WindowTable, the PrefixTable): internal
// to the core.
#pragma once

#include <pthread.h>

#include <cstdint>

namespace xmlrpcguard::shm {

// A robust, process-shared mutex in place: a holder's death is reported to the next
// locker (EOWNERDEAD) instead of leaving the mutex locked for good. Throws on failure.
void init_robust_mutex(pthread_mutex_t* mutex);

// A random 64-bit seed for keyed hashing (getrandom; the time and an address if the
// kernel cannot give one without blocking).
std::uint64_t random_seed() noexcept;

}  // namespace xmlrpcguard::shm
