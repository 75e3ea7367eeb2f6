// The request's two readers against each other: the canonical recogniser with its
// fallback (the default, ScanLimits::canonical_bytes) and libxml2 alone
// (canonical_bytes = 0). Any body, cut anywhere, must scan the same through both:
// every field of RequestScan. A body the recogniser reads differently from libxml2
// would let a request mean one thing to the guard and another to WordPress, so any
// disagreement here is a bug (the user names too, and WordPress's preamble settled on
// the held body against its streaming pass). Input: two bytes that choose where the body is cut (as
// fuzz_scanners reads its input), then the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include "ixr_preamble.hpp"
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
    scanner.read_user_names();
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
    require(a.user == b.user);
    require(a.call_users == b.call_users);
}

// WordPress's preamble settled on the held body (what the recogniser's path does)
// against the streaming pass (what a longer body gets): the same bytes, the same
// refusal.
struct Collected final : detail::ByteSink {
    void take(std::span<const char> bytes) override { text.append(bytes.data(), bytes.size()); }
    std::string text;
};

void require_same_preamble(std::span<const char> body) {
    static detail::IxrPreamble streaming;
    static Collected sink;
    static std::string held;
    streaming.reset();
    sink.text.clear();
    streaming.feed(body, sink);
    streaming.finish(sink);
    held.assign(body.data(), body.size());
    detail::IxrPreamble::Settled settled = detail::IxrPreamble::settle(held);
    require(settled.from <= settled.to && settled.to <= held.size());
    require(settled.refused == (streaming.verdict() == detail::IxrPreamble::Verdict::Refused));
    require(std::string_view(held).substr(settled.from, settled.to - settled.from) == sink.text);
}

// A document from a recipe: each byte an instruction (open one of XML-RPC's element
// names or a near miss, close the innermost, text, white space, an empty element, or
// one byte as it is), every element left open closed at the end.
void build_document(std::span<const char> recipe, std::string& out) {
    static constexpr std::string_view kNames[] = {"methodCall",
                                                  "methodName",
                                                  "params",
                                                  "param",
                                                  "value",
                                                  "string",
                                                  "int",
                                                  "i4",
                                                  "struct",
                                                  "member",
                                                  "name",
                                                  "array",
                                                  "data",
                                                  "base64",
                                                  "boolean",
                                                  "double",
                                                  "methodResponse",
                                                  "fault",
                                                  "methodNameX",
                                                  "Value",
                                                  "nil",
                                                  "dateTime.iso8601",
                                                  "_x-1.y"};
    static constexpr std::string_view kTexts[] = {"wp.getUsersBlogs",
                                                  "system.multicall",
                                                  "pingback.ping",
                                                  "methodName",
                                                  "params",
                                                  "faultCode",
                                                  "admin",
                                                  "d3AuZ2V0VXNlcnNCbG9ncw==",
                                                  "403",
                                                  " ",
                                                  "\n  ",
                                                  "\t",
                                                  "-12",
                                                  "x y"};
    std::string_view open[64];
    std::size_t depth = 0;
    out.clear();
    // Mostly one <methodCall> root: IxrPreamble refuses other roots before any parser.
    bool one_root = recipe.empty() || (recipe[0] & 7) != 0;
    if (one_root) {
        open[depth++] = kNames[0];
        out.append("<methodCall>");
    }
    for (std::size_t i = 0; i < recipe.size() && (depth > 0 || !one_root); ++i) {
        auto byte = static_cast<unsigned char>(recipe[i]);
        auto argument = static_cast<unsigned char>(i + 1 < recipe.size() ? recipe[i + 1] : 0);
        switch (byte % 8) {
            case 0:
            case 1:
            case 2:
                if (depth < std::size(open)) {
                    open[depth] = kNames[argument % std::size(kNames)];
                    out.append("<").append(open[depth++]).append(argument & 0x80 ? " >" : ">");
                }
                ++i;
                break;
            case 3:
                if (depth > 0) {
                    out.append("</").append(open[--depth]).append(">");
                }
                break;
            case 4:
                out.append(kTexts[argument % std::size(kTexts)]);
                ++i;
                break;
            case 5:
                out.append(byte & 0x10 ? "\n" : " ");
                break;
            case 6:
                out.append("<").append(kNames[argument % std::size(kNames)]).append("/>");
                ++i;
                break;
            case 7:
                out.push_back(static_cast<char>(argument));
                ++i;
                break;
        }
    }
    while (depth > 0) {
        out.append("</").append(open[--depth]).append(">");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    std::span<const char> body(reinterpret_cast<const char*>(data) + 2, size - 2);
    // Most arbitrary bytes are outside the recogniser's grammar and go to libxml2 at
    // once. So a quarter of the inputs are read as a recipe for a document of XML-RPC's
    // own elements and plausible text (mostly canonical, sometimes not), and a quarter
    // lose the bytes the recogniser never reads ('&', ']', CR, control and non-ASCII).
    static std::string rewritten;
    if ((data[0] & 0xC0) == 0xC0) {
        build_document(body, rewritten);
        body = rewritten;
    } else if (data[0] & 0x80) {
        rewritten.clear();
        for (char c : body) {
            if ((c >= 0x20 && c < 0x7F && c != '&' && c != ']') || c == '\t' || c == '\n') {
                rewritten.push_back(c);
            }
        }
        body = rewritten;
    }
    std::size_t first = (static_cast<std::size_t>(data[0]) << 8 | data[1]) % (body.size() + 1);
    std::size_t second =
        first + (static_cast<std::size_t>(data[1]) * 131) % (body.size() - first + 1);

    if (body.size() <= detail::IxrPreamble::kMaxAngles) {
        require_same_preamble(body);
    }
    static RequestScanner reference(kLibxml2), whole(kRecogniser), cut(kRecogniser);
    const RequestScan& expected = scan(reference, body, {});
    require_same(expected, scan(whole, body, {}));
    const std::size_t cuts[] = {first, second};
    require_same(expected, scan(cut, body, cuts));
    // One byte at a time: the held body grows by the smallest steps.
    if (body.size() <= 512) {
        static RequestScanner bytewise(kRecogniser);
        bytewise.reset();
        bytewise.read_user_names();
        for (char byte : body) {
            bytewise.feed({&byte, 1});
        }
        bytewise.finish();
        require_same(expected, bytewise.result());
    }
    return 0;
}
