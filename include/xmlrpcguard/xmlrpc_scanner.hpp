// Incremental XML-RPC scanners: they observe a body as it streams past, chunk by
// chunk, and keep only what the offence policy needs. They never hold or change
// the body. Hostile input is normal input: no entity is expanded, no DTD or
// external resource is loaded, and byte, depth and count caps end a scan with a
// verdict instead of unbounded work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace xmlrpcguard {

struct ScanLimits {
    // Bytes fed to the parser at most; later bytes are observed but not parsed, and
    // the scan ends OverLimit. PHP on Debian reads no POST body larger than this
    // (post_max_size = 8M), so WordPress runs nothing the scanner did not read.
    std::size_t max_bytes = 8 * 1024 * 1024;
    // Element nesting depth at most; a deeper document is malformed for us. libxml2
    // itself refuses documents deeper than 256, for PHP as for us.
    unsigned max_depth = 1024;
    // Multicall entries kept one by one (method names, per-call outcomes); later
    // entries are still counted in the aggregate counters.
    std::size_t max_calls = 4096;
    // A request of at most this many bytes in canonical XML-RPC (ASCII elements and
    // text, nothing else; see core/canonical_parser.hpp) is read without libxml2,
    // with the same result; any other body goes to libxml2 from its first byte.
    // 0 sends every body to libxml2. Answers are always read by libxml2.
    std::size_t canonical_bytes = 8 * 1024;
};

enum class ScanStatus : std::uint8_t {
    Incomplete,  // not finished yet (no EOS seen)
    Complete,    // the whole body parsed as a well-formed document
    OverLimit,   // a cap was reached; what was gathered before it is kept
    Malformed,   // not well-formed XML, a DOCTYPE, or not XML-RPC at all
};

const char* to_string(ScanStatus status) noexcept;

struct RequestScan {
    ScanStatus status = ScanStatus::Incomplete;
    // The top-level <methodName>, truncated to kMaxMethodName bytes; empty if none.
    std::string method;
    // For system.multicall: the inner methodName of each call in params[0], in
    // order, the first ScanLimits::max_calls of them.
    std::vector<std::string> calls;
    // Every inner call seen, including those past the cap.
    std::size_t calls_seen = 0;

    static constexpr std::size_t kMaxMethodName = 128;

    // With RequestScanner::read_user_names(): the user name of the single call as IXR
    // gives it (empty: none; see user_names.hpp), or of each multicall call ("" for
    // a call that authenticates no one).
    std::string user;
    std::vector<std::string> call_users;

    // Read whole, run by WordPress, and not system.multicall: its answer is the answer
    // to one call. Anything else (a body refused, cut at a cap, or not yet read) may
    // have run a multicall for all we know, so its answer is read in full.
    bool known_single_call() const noexcept;
};

struct CallOutcome {
    bool fault = false;
    std::int32_t fault_code = 0;  // meaningful when fault is true
};

struct ResponseScan {
    ScanStatus status = ScanStatus::Incomplete;
    // A top-level <fault> answer and its faultCode (absent: not a fault answer).
    bool fault = false;
    std::optional<std::int32_t> fault_code;
    // A multicall answer: one outcome per element of the top-level array, the
    // first ScanLimits::max_calls of them.
    std::vector<CallOutcome> results;
    // Every element seen, and every fault struct with code 403 among them,
    // including those past the cap.
    std::size_t results_seen = 0;
    std::size_t faults_403 = 0;
};

// Reads a <methodCall> body. Feed chunks as they arrive, then finish() at EOS.
// Reusable after reset(), which keeps the parser context (cheaper than a new one).
class RequestScanner {
  public:
    explicit RequestScanner(ScanLimits limits = {});
    ~RequestScanner();
    RequestScanner(const RequestScanner&) = delete;
    RequestScanner& operator=(const RequestScanner&) = delete;

    void feed(std::span<const char> bytes);
    void finish();
    void reset();
    const RequestScan& result() const noexcept;

    // Also read the user names of authenticating calls, until reset(). Before the end,
    // user_candidates() lists every value that may be one, in the order they became
    // known (appended as bytes are fed; capped), so a caller can stop the body early.
    void read_user_names() noexcept;
    std::vector<std::string>& user_candidates() noexcept;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

// Reads a <methodResponse> body; see RequestScanner.
class ResponseScanner {
  public:
    explicit ResponseScanner(ScanLimits limits = {});
    ~ResponseScanner();
    ResponseScanner(const ResponseScanner&) = delete;
    ResponseScanner& operator=(const ResponseScanner&) = delete;

    // The request was a single call, not system.multicall, so only the answer's
    // shape matters: reading stops (status Complete, no fault) as soon as <params>
    // opens in a <methodResponse> before any <fault>. WordPress writes its answers
    // with every string escaped, so nothing after that can turn a success into a
    // fault. WordPress's own opening of a success is recognised without starting
    // libxml2 at all. Call before the first feed(); reset() turns it off.
    void expect_single_call() noexcept;

    void feed(std::span<const char> bytes);
    void finish();
    void reset();
    const ResponseScan& result() const noexcept;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace xmlrpcguard
