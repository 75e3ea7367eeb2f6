// Scanners are reused across requests: making a libxml2 parser context costs about
// half a microsecond, as much as reading a small XML-RPC body. An exchange borrows
// one pair (request and answer scanner, made and kept together) from its thread's few
// spares and gives it back, reset, when its request pool is destroyed (which may
// happen on another thread of the same process: a pair belongs to no thread, only
// each spare list does).
//
// The spare list is one small thread-local struct (scanner_cache.cpp, built with
// -ftls-model=initial-exec: no __tls_get_addr), holding the pairs' pointers itself,
// so a borrow touches the thread's own TLS line and the pair, nothing in between.
//
// A reset context keeps its dictionary of element names, which grows with every
// distinct name it has parsed: a pair is retired once it has been fed
// kRetireAfterBytes, so no stream of requests with made-up names can grow it without
// bound.
#pragma once

#include <cstddef>
#include <span>

#include "xmlrpcguard/xmlrpc_scanner.hpp"

namespace xmlrpcguard::httpd {

struct ScannerPair {
    RequestScanner request;
    ResponseScanner response;
    std::size_t bytes_fed = 0;  // both ways, over the pair's whole life
};

// One scanner of the exchange's pair, as the filters use it.
template <class Scanner>
class ScannerHandle {
  public:
    ScannerHandle() = default;
    ScannerHandle(Scanner* scanner, std::size_t* bytes_fed) noexcept
        : scanner_(scanner), bytes_fed_(bytes_fed) {}

    void feed(std::span<const char> bytes) {
        *bytes_fed_ += bytes.size();
        scanner_->feed(bytes);
    }
    Scanner* operator->() const noexcept { return scanner_; }

  private:
    Scanner* scanner_ = nullptr;
    std::size_t* bytes_fed_ = nullptr;
};

// The exchange's pair: borrowed from the thread's spares (or made), given back when
// destroyed.
class BorrowedScanners {
  public:
    BorrowedScanners() = default;
    ~BorrowedScanners();
    BorrowedScanners(const BorrowedScanners&) = delete;
    BorrowedScanners& operator=(const BorrowedScanners&) = delete;

    void borrow();
    ScannerHandle<RequestScanner> request() noexcept {
        return {&pair_->request, &pair_->bytes_fed};
    }
    ScannerHandle<ResponseScanner> response() noexcept {
        return {&pair_->response, &pair_->bytes_fed};
    }

  private:
    ScannerPair* pair_ = nullptr;
};

}  // namespace xmlrpcguard::httpd
