// Scanners are reused across requests: making a libxml2 parser context costs about
// half a microsecond, as much as reading a small XML-RPC body. Each thread keeps a
// few spare scanners; an exchange borrows one per direction and gives it back, reset,
// when its request pool is destroyed (which may happen on another thread of the
// same process: a scanner belongs to no thread, only each spare list does).
//
// A reset context keeps its dictionary of element names, which grows with every
// distinct name it has parsed: a scanner is retired once it has been fed
// kRetireAfterBytes, so no stream of requests with made-up names can grow it without
// bound.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace xmlrpcguard::httpd {

template <class Scanner>
class BorrowedScanner {
  public:
    BorrowedScanner() = default;
    ~BorrowedScanner() { give_back(std::move(lent_)); }
    BorrowedScanner(const BorrowedScanner&) = delete;
    BorrowedScanner& operator=(const BorrowedScanner&) = delete;

    void borrow() {
        auto& spares = spare_scanners();
        if (spares.empty()) {
            lent_ = Lent{std::make_unique<Scanner>(), 0};
        } else {
            lent_ = std::move(spares.back());
            spares.pop_back();
        }
    }

    void feed(std::span<const char> bytes) {
        lent_.bytes_fed += bytes.size();
        lent_.scanner->feed(bytes);
    }
    Scanner* operator->() const noexcept { return lent_.scanner.get(); }

  private:
    static constexpr std::size_t kSparesPerThread = 4;
    static constexpr std::size_t kRetireAfterBytes = 1 << 20;

    struct Lent {
        std::unique_ptr<Scanner> scanner;
        std::size_t bytes_fed = 0;  // over the scanner's whole life
    };

    // In the files that borrow and give back (exchange.cpp, filters.cpp) this list is
    // built with -ftls-model=initial-exec (httpd/CMakeLists.txt): no __tls_get_addr.
    static std::vector<Lent>& spare_scanners() {
        thread_local std::vector<Lent> spares;
        return spares;
    }

    static void give_back(Lent lent) noexcept {
        if (!lent.scanner || lent.bytes_fed > kRetireAfterBytes) {
            return;  // freed
        }
        try {
            auto& spares = spare_scanners();
            if (spares.size() < kSparesPerThread) {
                lent.scanner->reset();
                spares.push_back(std::move(lent));
            }
        } catch (...) {
            // Out of memory while keeping a spare: the scanner is simply freed.
        }
    }

    Lent lent_;
};

}  // namespace xmlrpcguard::httpd
