// Both scanners on arbitrary bytes. Beyond "no crash, no leak, no UB" (the
// sanitizers), it checks the caps hold and that the verdict does not depend on where
// the body was split: fed whole and fed in two pieces at an offset taken from the
// input, every field must agree. And every user name the request's calls end up with
// was a candidate while the body streamed (what the glue checks before the end).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <type_traits>

#include "xmlrpcguard/xmlrpc_scanner.hpp"

using namespace xmlrpcguard;

namespace {

constexpr ScanLimits kLimits{.max_bytes = 64 * 1024, .max_depth = 64, .max_calls = 64};

void require(bool condition) {
    if (!condition) {
        std::abort();
    }
}

template <class Scanner>
const auto& scan(Scanner& scanner, std::span<const char> body, std::size_t split,
                 bool single_call = false) {
    scanner.reset();
    if constexpr (std::is_same_v<Scanner, ResponseScanner>) {
        if (single_call) {
            scanner.expect_single_call();
        }
    } else {
        scanner.read_user_names();
    }
    scanner.feed(body.first(split));
    scanner.feed(body.subspan(split));
    scanner.finish();
    return scanner.result();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    std::size_t split = (static_cast<std::size_t>(data[0]) << 8 | data[1]) % (size - 1);
    std::span<const char> body(reinterpret_cast<const char*>(data) + 2, size - 2);
    split = split > body.size() ? body.size() : split;

    static RequestScanner whole_request(kLimits), split_request(kLimits);
    const RequestScan& a = scan(whole_request, body, body.size());
    const RequestScan& b = scan(split_request, body, split);
    require(a.status == b.status && a.method == b.method && a.calls == b.calls &&
            a.calls_seen == b.calls_seen);
    require(a.status != ScanStatus::Incomplete);
    require(a.method.size() <= RequestScan::kMaxMethodName);
    require(a.calls.size() <= kLimits.max_calls && a.calls.size() <= a.calls_seen);
    require(a.user == b.user && a.call_users == b.call_users);
    for (RequestScanner* scanner : {&whole_request, &split_request}) {
        const auto& candidates = scanner->user_candidates();
        auto candidate = [&](const std::string& name) {
            return name.empty() ||
                   std::find(candidates.begin(), candidates.end(), name) != candidates.end();
        };
        require(candidate(scanner->result().user));
        for (const std::string& name : scanner->result().call_users) {
            require(candidate(name));
        }
    }

    static ResponseScanner whole_response(kLimits), split_response(kLimits);
    const ResponseScan& c = scan(whole_response, body, body.size());
    const ResponseScan& d = scan(split_response, body, split);
    require(c.status == d.status && c.fault == d.fault && c.fault_code == d.fault_code &&
            c.results_seen == d.results_seen && c.faults_403 == d.faults_403 &&
            c.results.size() == d.results.size());
    for (std::size_t i = 0; i < c.results.size(); ++i) {
        require(c.results[i].fault == d.results[i].fault &&
                c.results[i].fault_code == d.results[i].fault_code);
    }
    require(c.results.size() <= kLimits.max_calls && c.faults_403 <= c.results_seen);

    // Read as the answer to a single call (it may stop at its first sign of
    // success): the same verdict whole or split, and always a verdict.
    const ResponseScan& e = scan(whole_response, body, body.size(), true);
    const ResponseScan& f = scan(split_response, body, split, true);
    require(e.status == f.status && e.fault == f.fault && e.fault_code == f.fault_code);
    require(e.status != ScanStatus::Incomplete);
    return 0;
}
