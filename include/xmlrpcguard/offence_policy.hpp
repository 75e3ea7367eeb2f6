// What counts as an offence: the one place that turns what the scanners saw and
// the HTTP status into offences. Pure function, no allocation.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "xmlrpcguard/xmlrpc_scanner.hpp"

namespace xmlrpcguard {

enum class Endpoint : std::uint8_t { XmlRpc, Login };

enum class OffenceKind : std::uint8_t { AuthFailure, PingbackError, LoginFailure };
inline constexpr std::size_t kOffenceKinds = 3;

std::string_view to_string(OffenceKind kind) noexcept;

// WordPress's XML-RPC fault codes that matter here.
inline constexpr std::int32_t kFaultBadCredentials = 403;
inline constexpr std::int32_t kFaultDuplicatePingback = 48;
inline constexpr std::string_view kPingbackMethod = "pingback.ping";
inline constexpr std::string_view kMulticallMethod = "system.multicall";

struct Offences {
    std::array<std::uint32_t, kOffenceKinds> count{};

    std::uint32_t& operator[](OffenceKind kind) noexcept {
        return count[static_cast<std::size_t>(kind)];
    }
    std::uint32_t operator[](OffenceKind kind) const noexcept {
        return count[static_cast<std::size_t>(kind)];
    }
    std::uint32_t total() const noexcept { return count[0] + count[1] + count[2]; }
    bool any() const noexcept { return total() != 0; }
};

struct Exchange {
    Endpoint endpoint = Endpoint::XmlRpc;
    const RequestScan* request = nullptr;    // XmlRpc only
    const ResponseScan* response = nullptr;  // XmlRpc only
    int http_status = 0;
    bool login_error_marker = false;  // Login only
};

Offences judge(const Exchange& exchange) noexcept;

}  // namespace xmlrpcguard
