// The guard's error_log lines. Ids: XRG00xx startup and shared memory, XRG01xx
// requests. Everything that came from the request is escaped, so no request can
// forge a line. Format (documented in README, parsed by conf/fail2ban):
//   XRG0101: offence client=ADDR key=KEY vhost=NAME kind=KIND count=N in_window=W/MAX method="M"
//   fault=F mode=MODE XRG0102: ban client=ADDR key=KEY vhost=NAME reason=KIND in_window=W/MAX
//   bantime=SECONDS method="M" fault=F XRG0103: detect-only: would ban client=... (same fields as
//   XRG0102)
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
};

void log_offences(const GuardedExchange& exchange, const Verdict& verdict);
void log_ban(const GuardedExchange& exchange, const Verdict& verdict, bool detect_only);
void log_denied(request_rec* r, const Address& key);
void log_replaced(const GuardedExchange& exchange);
void log_cut_off(const GuardedExchange& exchange);
void log_not_scannable(const GuardedExchange& exchange, const char* content_encoding);
void log_internal_error(request_rec* r, const char* where, const char* what) noexcept;

}  // namespace xmlrpcguard::httpd
