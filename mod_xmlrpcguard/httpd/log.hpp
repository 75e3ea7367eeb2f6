// The guard's error_log lines. Ids: XRG00xx startup and shared memory, XRG01xx
// requests. Everything that came from the request is escaped, so no request can
// forge a line. Formats are in README's "Log lines" (conf/fail2ban parses XRG0102).
#pragma once

#include <httpd.h>

#include <cstdint>

#include "exchange.hpp"
#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard::httpd {

struct Verdict {
    Offences offences;
    RecordOutcome outcome;
    OffenceKind main_kind = OffenceKind::AuthFailure;
    std::uint32_t bantime = 0;  // the length of the ban made (0: the configured one)
};

void log_offences(const GuardedExchange& exchange, const Verdict& verdict);
void log_ban(const GuardedExchange& exchange, const Verdict& verdict, bool detect_only);
void log_denied(request_rec* r, const Address& key);
void log_replaced(const GuardedExchange& exchange);
void log_cut_off(const GuardedExchange& exchange);
void log_not_scannable(const GuardedExchange& exchange, const char* content_encoding);
enum class KeptOut : unsigned char { Forwarded, KernelBanOff };
// XRG0110: a new ban denied in httpd only, never sent to the kernel set, and why.
void log_kept_out_of_kernel(const GuardedExchange& exchange, KeptOut why);
// XRG0111: a guarded POST from a loopback or ignored peer that nothing re-attributed.
void log_probably_behind_proxy(request_rec* r);
void log_internal_error(request_rec* r, const char* where, const char* what) noexcept;

}  // namespace xmlrpcguard::httpd
