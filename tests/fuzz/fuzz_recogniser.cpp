// The request's two readers against each other: the canonical recogniser with its
// fallback (the default, ScanLimits::canonical_bytes) and libxml2 alone
// (canonical_bytes = 0). Any body, cut anywhere, must scan the same through both:
// every field of RequestScan. A body the recogniser reads differently from libxml2
// would let a request mean one thing to the guard and another to WordPress, so any
// disagreement here is a bug. Input: two bytes that choose where the body is cut (as
// fuzz_scanners reads its input), then the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "xmlrpcguard/xmlrpc_scanner.hpp"

using namespace xmlrpcguard;

namespace {

constexpr ScanLimits kRecogniser{.max_bytes = 64 * 1024, .max_depth = 64, .max_calls = 64};
constexpr ScanLimits kLibxml2{
    .max_bytes = 64 * 1024, .max_depth = 64, .max_calls = 64, .canonical_bytes = 0};

void require(bool condition) {
    if (!condition) {
        std::abort();
    }
}

const RequestScan& scan(RequestScanner& scanner, std::span<const char> body,
                        std::span<const std::size_t> cuts) {
    scanner.reset();
    std::size_t from = 0;
    for (std::size_t cut : cuts) {
        scanner.feed(body.subspan(from, cut - from));
        from = cut;
    }
    scanner.feed(body.subspan(from));
    scanner.finish();
    return scanner.result();
}

void require_same(const RequestScan& a, const RequestScan& b) {
    require(a.status == b.status);
    require(a.method == b.method);
    require(a.calls == b.calls);
    require(a.calls_seen == b.calls_seen);
    require(a.known_single_call() == b.known_single_call());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    std::span<const char> body(reinterpret_cast<const char*>(data) + 2, size - 2);
    std::size_t first = (static_cast<std::size_t>(data[0]) << 8 | data[1]) % (body.size() + 1);
    std::size_t second =
        first + (static_cast<std::size_t>(data[1]) * 131) % (body.size() - first + 1);

    static RequestScanner reference(kLibxml2), whole(kRecogniser), cut(kRecogniser);
    const RequestScan& expected = scan(reference, body, {});
    require_same(expected, scan(whole, body, {}));
    const std::size_t cuts[] = {first, second};
    require_same(expected, scan(cut, body, cuts));
    // One byte at a time: the held body grows by the smallest steps.
    if (body.size() <= 512) {
        static RequestScanner bytewise(kRecogniser);
        bytewise.reset();
        for (char byte : body) {
            bytewise.feed({&byte, 1});
        }
        bytewise.finish();
        require_same(expected, bytewise.result());
    }
    return 0;
}
