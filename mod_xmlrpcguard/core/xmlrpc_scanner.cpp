#include "xmlrpcguard/xmlrpc_scanner.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <new>

#include "auth_name_reader.hpp"
#include "canonical_parser.hpp"
#include "ixr_preamble.hpp"
#include "sax_push_parser.hpp"
#include "success_opening.hpp"
#include "xmlrpc_reader.hpp"

namespace xmlrpcguard {

const char* to_string(ScanStatus status) noexcept {
    switch (status) {
        case ScanStatus::Incomplete:
            return "incomplete";
        case ScanStatus::Complete:
            return "complete";
        case ScanStatus::OverLimit:
            return "over_limit";
        case ScanStatus::Malformed:
            return "malformed";
    }
    return "unknown";
}

namespace {
constexpr std::string_view kMulticall = "system.multicall";
}  // namespace

bool RequestScan::known_single_call() const noexcept {
    return status == ScanStatus::Complete && method != kMulticall;
}

namespace {

using detail::ItemList;
using detail::ListItem;

// A well-formed document whose root is not the expected one is not XML-RPC.
ScanStatus final_status(ScanStatus parsed, std::string_view root, std::string_view expected) {
    if (parsed == ScanStatus::Complete && root != expected) {
        return ScanStatus::Malformed;
    }
    return parsed;
}

// PHP's (int) of the trimmed text, clamped to 32 bits: an out-of-range code is
// neither 403 nor 48, and stays so.
std::int32_t fault_code_of(const ListItem& item) {
    if (item.key_kind != ListItem::KeyKind::Int) {
        return 0;
    }
    std::string_view text = item.key_text;
    bool negative = !text.empty() && text.front() == '-';
    if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
        text.remove_prefix(1);
    }
    std::uint64_t magnitude = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), magnitude);
    (void)end;
    constexpr auto kMax = std::numeric_limits<std::int32_t>::max();
    if (error == std::errc::result_out_of_range || magnitude > std::uint64_t{kMax}) {
        return negative ? std::numeric_limits<std::int32_t>::min() : kMax;
    }
    auto value = static_cast<std::int32_t>(magnitude);
    return negative ? -value : value;
}

bool is_fault_struct(const ListItem& item) {
    return item.is_struct && item.key_kind != ListItem::KeyKind::None;
}

std::size_t is_403(const CallOutcome& outcome) {
    return outcome.fault && outcome.fault_code == 403 ? 1 : 0;
}

// feed()/finish() common to both scanners: the verdict is drawn once, at the first
// finish(); bytes after it are ignored.
template <class Impl>
struct ScanSteps {
    void feed(std::span<const char> bytes) {
        auto& self = static_cast<Impl&>(*this);
        if (!concluded) {
            self.parser.feed(bytes);
            self.result.status = self.parser.status();
        }
    }
    void finish() {
        auto& self = static_cast<Impl&>(*this);
        if (!concluded) {
            self.parser.finish();
            self.conclude();
            concluded = true;
        }
    }
    bool concluded = false;
};

}  // namespace

// ---- request ---------------------------------------------------------------------

// The body goes through WordPress's own pre-processing (IxrPreamble) before libxml2.
struct RequestScanner::Impl final : detail::XmlRpcReader, detail::ByteSink {
    explicit Impl(ScanLimits limits)
        : XmlRpcReader("methodName"),
          parser(*this, limits),
          hold_budget(std::min(parser.budget(), detail::IxrPreamble::kMaxAngles)) {}

    // system.multicall runs params[0] when it is the only parameter, else every
    // parameter: both lists are kept until the end says which one WordPress runs.
    struct CallList {
        std::vector<std::string> methods;
        std::size_t seen = 0;
    };

    // A body that fits the recogniser's budget is held as it came and WordPress's
    // preamble settled on it at finish() (IxrPreamble::settle): one copy, no windows,
    // and the recogniser reads that same buffer.
    // A longer one streams through the preamble from its first byte, as it always did.
    void feed(std::span<const char> bytes) {
        if (concluded) {
            return;
        }
        if (holding) {
            if (bytes.size() <= hold_budget - body.size()) {
                try {
                    body.append(bytes.data(), bytes.size());
                    return;
                } catch (const std::bad_alloc&) {
                    // streamed instead
                }
            }
            stream_held();
        }
        preamble.feed(bytes, *this);
        note_refusal();
        result.status = parser.status();
    }

    void finish() {
        if (concluded) {
            return;
        }
        if (holding) {
            holding = false;
            detail::IxrPreamble::Settled settled = detail::IxrPreamble::settle(body);
            if (settled.to > settled.from) {
                // What the preamble passes on, moved to the buffer's start (it is in
                // cache) and handed over without a second copy.
                body.resize(settled.to);
                body.erase(0, settled.from);
                parser.adopt(body);
            }
            if (settled.refused) {
                parser.stop(ScanStatus::Malformed);  // WordPress does not parse it at all
            }
        } else {
            preamble.finish(*this);
            note_refusal();
        }
        parser.finish();
        conclude();
        concluded = true;
    }

    // The held bytes go through the streaming preamble after all.
    void stream_held() {
        holding = false;
        if (!body.empty()) {
            preamble.feed(body, *this);
            body.clear();
            note_refusal();
        }
    }

    void take(std::span<const char> bytes) override { parser.feed(bytes); }

    void note_refusal() {
        if (preamble.verdict() == detail::IxrPreamble::Verdict::Refused) {
            parser.stop(ScanStatus::Malformed);  // WordPress does not parse it at all
        }
    }

    // The user names beside the calls, when asked for (RequestScanner::read_user_names).
    // The name is classified once for both readers.
    void on_open(std::string_view name) override {
        detail::Tag tag = detail::tag_of(name);
        XmlRpcReader::open(name, tag);
        if (user_names) {
            names.open(tag);
        }
    }
    void on_close(std::string_view name) override {
        detail::Tag tag = detail::tag_of(name);
        if (user_names) {
            names.close(tag);  // first: it reads the text the reader clears
        }
        XmlRpcReader::close(name, tag);
    }

    void on_item(ItemList list, std::size_t index, const ListItem& item) override {
        CallList& calls = list == ItemList::TopLevelValues ? parameters : first_parameter;
        bool named = item.is_struct && item.key_kind == ListItem::KeyKind::String;
        std::string_view method = named ? std::string_view(item.key_text) : "";
        if (index < calls.methods.size()) {
            calls.methods[index].assign(method);  // a struct's key set again
        } else if (index >= calls.seen) {
            ++calls.seen;
            if (calls.methods.size() < parser.limits().max_calls) {
                calls.methods.emplace_back(method);
            }
        }
    }

    // WordPress runs the body when IXR parsed it and the last message type opened
    // was <methodCall>.
    void conclude() {
        ScanStatus status = parser.status();
        if (status == ScanStatus::Complete && too_many_names()) {
            status = ScanStatus::OverLimit;
        }
        if (status == ScanStatus::Complete && message_type() != "methodCall") {
            status = ScanStatus::Malformed;
        }
        result.status = status;
        result.method = method_name();
        if (result.method == kMulticall) {
            CallList& run = top_level_values() == 1 ? first_parameter : parameters;
            result.calls = std::move(run.methods);
            result.calls_seen = run.seen;
        }
        if (user_names) {
            if (result.method == kMulticall) {
                result.call_users = names.call_users();
            } else {
                result.user = names.single_user(result.method);
            }
        }
    }

    // Allocation-free for the usual request: the lists and the method name keep their
    // memory for the next body, up to kKeptCalls entries (a large multicall's lists
    // are freed, so a reused scanner stays small).
    static constexpr std::size_t kKeptCalls = 64;

    static void clear_calls(std::vector<std::string>& methods) {
        if (methods.capacity() > kKeptCalls) {
            methods = {};
        } else {
            methods.clear();
        }
    }

    void clear() {
        XmlRpcReader::clear();
        preamble.reset();
        parser.reset();
        clear_calls(parameters.methods);
        parameters.seen = 0;
        clear_calls(first_parameter.methods);
        first_parameter.seen = 0;
        std::string method = std::move(result.method);
        method.clear();
        result = {};
        result.method = std::move(method);
        concluded = false;
        body.clear();
        holding = true;
        if (user_names) {
            names.clear();
            user_names = false;
        }
    }

    detail::IxrPreamble preamble;
    detail::CanonicalPushParser parser;  // libxml2 for any body outside canonical XML-RPC
    std::size_t hold_budget;             // bytes held before the preamble, at most
    std::string body;                    // the body as it came, while holding
    bool holding = true;
    CallList parameters;
    CallList first_parameter;
    RequestScan result;
    bool concluded = false;
    bool user_names = false;
    detail::AuthNameReader names{text()};
};

void RequestScanner::read_user_names() noexcept {
    impl_->user_names = true;
}

std::vector<std::string>& RequestScanner::user_candidates() noexcept {
    return impl_->names.candidates();
}

RequestScanner::RequestScanner(ScanLimits limits) : impl_(std::make_unique<Impl>(limits)) {}
RequestScanner::~RequestScanner() = default;

void RequestScanner::feed(std::span<const char> bytes) {
    impl_->feed(bytes);
}
void RequestScanner::finish() {
    impl_->finish();
}

void RequestScanner::reset() {
    impl_->clear();
}

const RequestScan& RequestScanner::result() const noexcept {
    return impl_->result;
}

// ---- response --------------------------------------------------------------------

struct ResponseScanner::Impl final : detail::XmlRpcReader, ScanSteps<ResponseScanner::Impl> {
    using Steps = ScanSteps<ResponseScanner::Impl>;
    using Opening = detail::SuccessOpening;

    explicit Impl(ScanLimits limits) : XmlRpcReader("faultCode"), parser(*this, limits) {}

    // The answer to a single call is first read against WordPress's own opening of a
    // success; libxml2 is set to work only when it strays (see success_opening.hpp).
    void feed(std::span<const char> bytes) {
        if (concluded || opening.verdict() == Opening::Verdict::Success) {
            return;
        }
        if (single_call && opening.verdict() == Opening::Verdict::Undecided) {
            std::size_t read = opening.read(bytes);
            switch (opening.verdict()) {
                case Opening::Verdict::Undecided:
                    return;
                case Opening::Verdict::Success:
                    result.status = ScanStatus::Complete;
                    return;
                case Opening::Verdict::Strayed:
                    // Held bytes all from this chunk (the answer in one piece, the
                    // usual case) are its start: libxml2 takes it in one call.
                    if (opening.held().size() != read) {
                        Steps::feed(opening.held());
                        bytes = bytes.subspan(read);
                    }
                    break;
            }
        }
        Steps::feed(bytes);
    }

    void finish() {
        if (single_call && opening.verdict() == Opening::Verdict::Undecided && !concluded) {
            Steps::feed(opening.held());  // a body shorter than the opening
        }
        if (opening.verdict() == Opening::Verdict::Success) {
            concluded = true;
            return;  // result.status is already Complete, and a success is no fault
        }
        Steps::finish();
    }

    void on_open(std::string_view name) override {
        XmlRpcReader::on_open(name);
        if (single_call && name == "params" && root() == "methodResponse" &&
            message_type() == "methodResponse") {
            parser.stop(ScanStatus::Complete);  // a success: the rest cannot change it
        }
    }

    void on_item(ItemList list, std::size_t index, const ListItem& item) override {
        if (list == ItemList::TopLevelValues) {
            if (index == 0) {
                first_value_faulted = is_fault_struct(item);
                first_value_code = fault_code_of(item);
            }
            return;
        }
        CallOutcome outcome{is_fault_struct(item), 0};
        if (outcome.fault) {
            outcome.fault_code = fault_code_of(item);
        }
        if (index < result.results.size()) {  // a struct's key set again
            result.faults_403 -= is_403(result.results[index]);
            result.faults_403 += is_403(outcome);
            result.results[index] = outcome;
        } else if (index >= result.results_seen) {
            result.faults_403 += is_403(outcome);
            if (result.results_seen++ < parser.limits().max_calls) {
                result.results.push_back(outcome);
            }
        }
    }

    void conclude() {
        result.status = final_status(parser.status(), root(), "methodResponse");
        result.fault = message_type() == "fault";
        if (result.fault && first_value_faulted) {
            result.fault_code = first_value_code;
        }
    }

    void clear() {
        XmlRpcReader::clear();
        parser.reset();
        first_value_faulted = false;
        first_value_code = 0;
        single_call = false;
        opening.reset();
        result = {};
        concluded = false;
    }

    detail::SaxPushParser parser;
    Opening opening;
    bool single_call = false;
    bool first_value_faulted = false;
    std::int32_t first_value_code = 0;
    ResponseScan result;
};

ResponseScanner::ResponseScanner(ScanLimits limits) : impl_(std::make_unique<Impl>(limits)) {}
ResponseScanner::~ResponseScanner() = default;

void ResponseScanner::expect_single_call() noexcept {
    impl_->single_call = true;
}

void ResponseScanner::feed(std::span<const char> bytes) {
    impl_->feed(bytes);
}
void ResponseScanner::finish() {
    impl_->finish();
}

void ResponseScanner::reset() {
    impl_->clear();
}

const ResponseScan& ResponseScanner::result() const noexcept {
    return impl_->result;
}

}  // namespace xmlrpcguard
