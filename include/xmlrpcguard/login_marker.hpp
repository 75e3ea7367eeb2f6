// Finds WordPress's failed-login marker (id="login_error") in an HTML answer that
// streams past in chunks of any size, including a marker split across chunks.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace xmlrpcguard {

class LoginMarkerFinder {
  public:
    static constexpr std::string_view kMarker = "id=\"login_error\"";

    void feed(std::span<const char> bytes) noexcept;
    bool found() const noexcept { return found_; }
    void reset() noexcept { *this = LoginMarkerFinder{}; }

  private:
    std::size_t matched_ = 0;  // length of the marker prefix that ends the bytes seen so far
    bool found_ = false;
};

}  // namespace xmlrpcguard
