#include "scanner_cache.hpp"

namespace xmlrpcguard::httpd {
namespace {

constexpr std::size_t kSparesPerThread = 4;
constexpr std::size_t kRetireAfterBytes = 1 << 20;

// A thread's spare pairs: 40 bytes of static TLS (initial-exec, httpd/CMakeLists.txt).
// Freed when the thread ends (mod_http2's idle workers do).
struct Spares {
    ScannerPair* pairs[kSparesPerThread] = {};
    std::size_t count = 0;
    ~Spares() {
        while (count > 0) {
            delete pairs[--count];
        }
    }
};

thread_local Spares t_spares;

}  // namespace

void BorrowedScanners::borrow() {
    Spares& spares = t_spares;
    pair_ = spares.count > 0 ? spares.pairs[--spares.count] : new ScannerPair;
}

BorrowedScanners::~BorrowedScanners() {
    if (!pair_) {
        return;
    }
    Spares& spares = t_spares;
    if (pair_->bytes_fed > kRetireAfterBytes || spares.count == kSparesPerThread) {
        delete pair_;
        return;
    }
    try {
        pair_->request.reset();
        pair_->response.reset();
    } catch (...) {
        delete pair_;  // out of memory while resetting: the pair is simply freed
        return;
    }
    spares.pairs[spares.count++] = pair_;
}

}  // namespace xmlrpcguard::httpd
