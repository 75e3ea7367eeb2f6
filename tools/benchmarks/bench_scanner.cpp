// The scanners on the captured WordPress fixtures against the floor: libxml2 parsing
// the same bytes, the same way (a push parser per document, the same options, fed in
// the 8000-byte pieces httpd reads from a socket), with empty SAX callbacks. And the
// login-failure marker search against std::string_view::find on the whole page.
// Usage: bench_scanner FIXTURE_DIR [--rounds N] [--reused]
// (--reused: only the rows of a reused request scanner, the path of a httpd thread)
#include <libxml/parser.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "bench_support.hpp"
#include "xmlrpcguard/login_marker.hpp"
#include "xmlrpcguard/xmlrpc_scanner.hpp"

using namespace xmlrpcguard;

namespace {

constexpr std::size_t kPiece = 8000;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path);
    }
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

template <class Feed>
void in_pieces(const std::string& body, Feed&& feed) {
    for (std::size_t at = 0; at < body.size(); at += kPiece) {
        feed(body.data() + at, std::min(kPiece, body.size() - at));
    }
}

// The floor: libxml2 alone, nothing listening.
std::uint64_t parse_with_empty_callbacks(const std::string& body) {
    xmlSAXHandler handler{};
    handler.initialized = XML_SAX2_MAGIC;
    xmlParserCtxtPtr context = xmlCreatePushParserCtxt(&handler, nullptr, nullptr, 0, nullptr);
    xmlCtxtUseOptions(context, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    in_pieces(body, [&](const char* bytes, std::size_t n) {
        xmlParseChunk(context, bytes, static_cast<int>(n), 0);
    });
    xmlParseChunk(context, nullptr, 0, 1);
    std::uint64_t well_formed = context->wellFormed;
    xmlFreeParserCtxt(context);
    return well_formed;
}

// What the module does per request body: a scanner, the body as it streams, a verdict.
template <class Scanner>
std::uint64_t scan(const std::string& body) {
    Scanner scanner;
    in_pieces(body, [&](const char* bytes, std::size_t n) { scanner.feed({bytes, n}); });
    scanner.finish();
    return static_cast<std::uint64_t>(scanner.result().status);
}

// The answer to a request that was not a multicall, as the module reads it: a
// success stops at its first element.
std::uint64_t scan_single_call_answer(const std::string& body) {
    ResponseScanner scanner;
    scanner.expect_single_call();
    in_pieces(body, [&](const char* bytes, std::size_t n) { scanner.feed({bytes, n}); });
    scanner.finish();
    return static_cast<std::uint64_t>(scanner.result().status);
}

double ns_per_document(const std::string& body, std::uint64_t (*work)(const std::string&)) {
    // Enough repetitions for ~20 ms per round whatever the size.
    std::size_t repeat = std::max<std::size_t>(20, 40'000'000 / (body.size() + 200));
    std::uint64_t acc = 0;
    auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < repeat; ++i) {
        acc += work(body);
    }
    double ns = xrg_bench::seconds_since(start) * 1e9 / static_cast<double>(repeat);
    xrg_bench::keep(acc);
    return ns;
}

// The request scanner as a vhost with XmlRpcGuardUsers On reads every body: the user
// names of its authenticating calls too.
std::uint64_t scan_with_user_names(const std::string& body) {
    RequestScanner scanner;
    scanner.read_user_names();
    in_pieces(body, [&](const char* bytes, std::size_t n) { scanner.feed({bytes, n}); });
    scanner.finish();
    return static_cast<std::uint64_t>(scanner.result().status) + scanner.result().user.size();
}

// As a httpd thread reads a guarded XML-RPC body: one scanner reused (reset between
// bodies, see httpd/scanner_cache.hpp), the user names read too.
std::uint64_t scan_reused_with_user_names(const std::string& body) {
    static RequestScanner scanner;
    scanner.reset();
    scanner.read_user_names();
    in_pieces(body, [&](const char* bytes, std::size_t n) { scanner.feed({bytes, n}); });
    scanner.finish();
    return static_cast<std::uint64_t>(scanner.result().status) + scanner.result().user.size();
}

void reused_rows(const std::string& dir, int rounds) {
    xrg_bench::table_header(
        "request scanner reused, reading user names (baseline: libxml2 with empty callbacks)");
    for (const char* name : {"getusersblogs-badpass", "pingback-forged", "sayhello"}) {
        std::string request = slurp(dir + "/" + name + ".request.xml");
        auto pair = xrg_bench::alternate(
            rounds, [&] { return ns_per_document(request, &scan_reused_with_user_names); },
            [&] { return ns_per_document(request, &parse_with_empty_callbacks); });
        xrg_bench::table_row(
            std::string(name) + ".request.xml (" + std::to_string(request.size()) + " B)", pair);
    }
}

void user_names_rows(const std::string& dir, int rounds) {
    xrg_bench::table_header(
        "request scanner reading user names (baseline: the same scanner without them)");
    for (const char* name : {"getusersblogs-badpass", "pingback-forged", "multicall-500"}) {
        std::string request = slurp(dir + "/" + name + ".request.xml");
        auto pair = xrg_bench::alternate(
            rounds, [&] { return ns_per_document(request, &scan_with_user_names); },
            [&] { return ns_per_document(request, &scan<RequestScanner>); });
        xrg_bench::table_row(
            std::string(name) + ".request.xml (" + std::to_string(request.size()) + " B)", pair);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FIXTURE_DIR [--rounds N] [--reused]\n", argv[0]);
        return 2;
    }
    std::string dir = argv[1];
    int rounds =
        argc > 3 && std::strcmp(argv[2], "--rounds") == 0 ? std::max(1, std::atoi(argv[3])) : 7;
    try {
        xmlInitParser();
        if (std::strcmp(argv[argc - 1], "--reused") == 0) {
            reused_rows(dir, rounds);
            return 0;
        }
        const char* names[] = {"getusersblogs-badpass",
                               "getusersblogs-goodpass",
                               "pingback-forged",
                               "pingback-duplicate",
                               "sayhello",
                               "multicall-500"};
        xrg_bench::table_header(
            "scanner on a captured body (baseline: libxml2 with empty callbacks, the floor)");
        for (const char* name : names) {
            std::string request = slurp(dir + "/" + name + ".request.xml");
            std::string response = slurp(dir + "/" + name + ".response.xml");
            auto pair = xrg_bench::alternate(
                rounds, [&] { return ns_per_document(request, &scan<RequestScanner>); },
                [&] { return ns_per_document(request, &parse_with_empty_callbacks); });
            xrg_bench::table_row(
                std::string(name) + ".request.xml (" + std::to_string(request.size()) + " B)",
                pair);
            pair = xrg_bench::alternate(
                rounds, [&] { return ns_per_document(response, &scan<ResponseScanner>); },
                [&] { return ns_per_document(response, &parse_with_empty_callbacks); });
            xrg_bench::table_row(
                std::string(name) + ".response.xml (" + std::to_string(response.size()) + " B)",
                pair);
            if (std::string_view(name) != "multicall-500") {
                pair = xrg_bench::alternate(
                    rounds, [&] { return ns_per_document(response, &scan_single_call_answer); },
                    [&] { return ns_per_document(response, &parse_with_empty_callbacks); });
                xrg_bench::table_row(
                    std::string(name) + ".response.xml, as the answer to a single call", pair);
            }
        }

        std::string page = slurp(dir + "/login-failure.response.html");
        xrg_bench::table_header(
            "login-failure marker on the 200 page (baseline: std::string_view::find on the whole "
            "page)");
        auto pair = xrg_bench::alternate(
            rounds,
            [&] {
                return ns_per_document(page, [](const std::string& body) -> std::uint64_t {
                    LoginMarkerFinder finder;
                    in_pieces(body, [&](const char* bytes, std::size_t n) {
                        finder.feed({bytes, n});
                    });
                    return finder.found();
                });
            },
            [&] {
                return ns_per_document(page, [](const std::string& body) -> std::uint64_t {
                    return std::string_view(body).find(LoginMarkerFinder::kMarker) !=
                           std::string_view::npos;
                });
            });
        xrg_bench::table_row("login-failure.response.html (" + std::to_string(page.size()) + " B)",
                             pair);
        user_names_rows(dir, rounds);
        reused_rows(dir, rounds);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_scanner: %s\n", e.what());
        return 1;
    }
}
