// Time values as operators write them in fail2ban and Apache configs.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace xmlrpcguard {

// "3600", "45s", "10m", "1h", "1d", "1w" -> seconds. Whole numbers only, no sign,
// at most ten years; anything else is nullopt.
std::optional<std::uint32_t> parse_duration(std::string_view text) noexcept;

}  // namespace xmlrpcguard
