// The parsers of directive values (addresses, CIDRs, durations) and the login marker
// search on arbitrary bytes. Checks: a parsed address prints back to text that parses
// to the same address; a CIDR contains its own address; a duration is at most ten
// years; the marker finder agrees with a plain search whatever the chunking.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "xmlrpcguard/address.hpp"
#include "xmlrpcguard/address_set.hpp"
#include "xmlrpcguard/durations.hpp"
#include "xmlrpcguard/login_marker.hpp"

using namespace xmlrpcguard;

namespace {
void require(bool condition) {
    if (!condition) {
        std::abort();
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);

    if (auto address = Address::parse(text)) {
        auto again = Address::parse(address->to_string());
        require(again && *again == *address);
    }
    if (auto cidr = Cidr::parse(text)) {
        auto again = Cidr::parse(cidr->to_string());
        require(again && again->to_string() == cidr->to_string());
    }
    if (auto seconds = parse_duration(text)) {
        require(*seconds <= 10u * 366 * 24 * 3600);
    }

    LoginMarkerFinder finder;
    std::size_t piece = size == 0 ? 1 : 1 + data[0] % 7;
    for (std::size_t at = 0; at < size; at += piece) {
        std::string_view part = text.substr(at, piece);
        finder.feed(std::span<const char>(part.data(), part.size()));
    }
    require(finder.found() == (text.find(LoginMarkerFinder::kMarker) != std::string_view::npos));
    return 0;
}
