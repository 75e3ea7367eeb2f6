#include "xmlrpcguard/login_marker.hpp"

namespace xmlrpcguard {

void LoginMarkerFinder::feed(std::span<const char> bytes) noexcept {
    // The marker has no proper prefix that is also its suffix (no repeated border),
    // so on a mismatch the only partial match worth keeping starts at this byte.
    for (char c : bytes) {
        if (found_) {
            return;
        }
        if (c == kMarker[matched_]) {
            ++matched_;
        } else {
            matched_ = c == kMarker[0] ? 1 : 0;
        }
        if (matched_ == kMarker.size()) {
            found_ = true;
        }
    }
}

}  // namespace xmlrpcguard
