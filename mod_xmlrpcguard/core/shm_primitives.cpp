#include "shm_primitives.hpp"

#include <sys/random.h>
#include <time.h>

#include <stdexcept>

namespace xmlrpcguard::shm {

void init_robust_mutex(pthread_mutex_t* mutex) {
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr) != 0) {
        throw std::runtime_error("pthread_mutexattr_init failed");
    }
    int rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) {
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    }
    if (rc == 0) {
        rc = pthread_mutex_init(mutex, &attr);
    }
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        throw std::runtime_error("cannot initialise a robust process-shared mutex");
    }
}

std::uint64_t random_seed() noexcept {
    std::uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed)) {
        seed = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&seed)) ^
               static_cast<std::uint64_t>(time(nullptr)) * 0x9e3779b97f4a7c15ULL;
    }
    return seed;
}

}  // namespace xmlrpcguard::shm
