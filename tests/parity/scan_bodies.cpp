// The request scanner's reading of bodies, in the form tests/parity/ixr_oracle.php
// gives WordPress's: bodies on stdin as "<byte count>\n<bytes>", one JSON object per
// body on stdout: {"runs": bool, "method": HEX, "calls": [HEX, ...] | null,
// "users": HEX | [HEX | null, ...] | null} (the user names folded: login_fold()).
// One scanner reads every body, reset between them, as a httpd thread reuses one.
// A second argument N feeds each body in pieces of N bytes.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "xmlrpcguard/user_names.hpp"
#include "xmlrpcguard/xmlrpc_scanner.hpp"

namespace {

std::string hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out += kDigits[c >> 4];
        out += kDigits[c & 15];
    }
    return out;
}

std::string user_json(const std::string& name) {
    std::string folded = xmlrpcguard::login_fold(name);
    return folded.empty() ? "null" : "\"" + hex(folded) + "\"";
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t piece = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 0;
    xmlrpcguard::RequestScanner scanner;
    std::string line;
    std::string body;
    while (std::getline(std::cin, line)) {
        body.resize(std::strtoul(line.c_str(), nullptr, 10));
        std::cin.read(body.data(), static_cast<std::streamsize>(body.size()));
        scanner.reset();
        scanner.read_user_names();
        std::string_view rest = body;
        while (!rest.empty()) {
            std::size_t size = piece == 0 ? rest.size() : std::min(piece, rest.size());
            scanner.feed(rest.substr(0, size));
            rest.remove_prefix(size);
        }
        scanner.finish();
        const auto& scan = scanner.result();
        bool runs = scan.status == xmlrpcguard::ScanStatus::Complete;
        std::cout << "{\"runs\": " << (runs ? "true" : "false") << ", \"method\": \""
                  << (runs ? hex(scan.method) : "") << "\", \"calls\": ";
        if (runs && scan.method == "system.multicall") {
            std::cout << '[';
            for (std::size_t i = 0; i < scan.calls.size(); ++i) {
                std::cout << (i ? ", \"" : "\"") << hex(scan.calls[i]) << '"';
            }
            std::cout << ']';
        } else {
            std::cout << "null";
        }
        std::cout << ", \"users\": ";
        if (runs && scan.method == "system.multicall") {
            std::cout << '[';
            for (std::size_t i = 0; i < scan.call_users.size(); ++i) {
                std::cout << (i ? ", " : "") << user_json(scan.call_users[i]);
            }
            std::cout << ']';
        } else {
            std::cout << (runs ? user_json(scan.user) : "null");
        }
        std::cout << "}\n" << std::flush;
    }
    return 0;
}
