#include "xmlrpcguard/login_marker.hpp"

#include <array>
#include <cstring>

namespace xmlrpcguard {

namespace {

using Marker = LoginMarkerFinder;
constexpr std::size_t kLength = Marker::kMarker.size();

// Knuth-Morris-Pratt: fallback[n] is the longest proper prefix of the marker that is
// also a suffix of its first n bytes. A partial match such as `id="logi` followed by
// `d` must fall back to `id` (its own tail), not to nothing: the marker's inner "i"
// makes a naive restart miss `id="logid="login_error"`.
constexpr std::array<std::size_t, kLength + 1> make_fallback() {
    std::array<std::size_t, kLength + 1> fallback{};
    std::size_t border = 0;
    for (std::size_t n = 2; n <= kLength; ++n) {
        while (border > 0 && Marker::kMarker[n - 1] != Marker::kMarker[border]) {
            border = fallback[border];
        }
        if (Marker::kMarker[n - 1] == Marker::kMarker[border]) {
            ++border;
        }
        fallback[n] = border;
    }
    return fallback;
}

constexpr auto kFallback = make_fallback();

}  // namespace

void LoginMarkerFinder::feed(std::span<const char> bytes) noexcept {
    const char* at = bytes.data();
    const char* const end = at + bytes.size();
    while (at < end && !found_) {
        if (matched_ == 0) {
            // A match can only begin at the marker's first byte, and most of a page has
            // few of those: let memchr skip to the next one.
            at = static_cast<const char*>(
                std::memchr(at, kMarker[0], static_cast<std::size_t>(end - at)));
            if (!at) {
                return;
            }
        }
        char c = *at++;
        while (matched_ > 0 && c != kMarker[matched_]) {
            matched_ = kFallback[matched_];
        }
        if (c == kMarker[matched_]) {
            ++matched_;
        }
        found_ = matched_ == kLength;
    }
}

}  // namespace xmlrpcguard
