#include "xmlrpcguard/durations.hpp"

#include <charconv>

namespace xmlrpcguard {

std::optional<std::uint32_t> parse_duration(std::string_view text) noexcept {
    constexpr std::uint64_t kTenYears = 10ull * 366 * 86400;
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (end == text.data() || error != std::errc{}) {
        return std::nullopt;
    }
    std::string_view unit(end, text.data() + text.size() - end);
    std::uint64_t scale = 0;
    if (unit.empty() || unit == "s") {
        scale = 1;
    } else if (unit == "m") {
        scale = 60;
    } else if (unit == "h") {
        scale = 3600;
    } else if (unit == "d") {
        scale = 86400;
    } else if (unit == "w") {
        scale = 7 * 86400;
    } else {
        return std::nullopt;
    }
    if (value > kTenYears / scale) {
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(value * scale);
}

}  // namespace xmlrpcguard
