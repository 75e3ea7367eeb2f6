// Which offence reports of the children the node passes on to the fleet's windows in
// Redis. The channel's sending end is held by every httpd child, so by PHP under
// mod_php too: anything may arrive on it. A report is passed on only when it is well
// formed, names no protected address, carries a rule the configuration has (the
// findtime, maxretry and bantime of a vhost that reports to the cluster, and for IPv6
// that vhost's prefix), and is within a ceiling of its own: a flood of reports is
// counted and dropped here, before the link's queue, and costs the loop one decode
// and one token each, so the children's ban messages beside it are not held up.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "xmlrpcguard/ban_helper.hpp"
#include "xmlrpcguard/offence_report.hpp"
#include "xmlrpcguard/token_bucket.hpp"

namespace xmlrpcguard {

// One vhost's rule as its children report it (exchange.cpp, report_to_cluster).
struct OffenceRule {
    std::uint32_t findtime = 0;
    std::uint32_t maxretry = 0;
    std::uint32_t bantime = 0;
    unsigned ipv6_prefix = 64;

    friend bool operator==(const OffenceRule&, const OffenceRule&) = default;
};

enum class ReportVerdict : std::uint8_t {
    Accepted,     // on its way to the link's queue
    Malformed,    // not one well-formed offence message
    Protected,    // names (or its network holds) a protected address
    UnknownRule,  // a findtime/maxretry/bantime/prefix no reporting vhost has
    OverRate,     // above the reports' ceiling: dropped, counted
};
const char* to_string(ReportVerdict verdict) noexcept;

struct OffenceAdmissionSettings {
    std::vector<OffenceRule> rules;  // empty: every report is refused
    // A report is one offending answer (up to 20 offences): 1000 a second is more
    // than a node's backend answers failed logins, and less than one Redis batch
    // script absorbs.
    std::uint32_t per_second = 1000;
    std::uint32_t burst = 10000;
};

class OffenceAdmission {
  public:
    explicit OffenceAdmission(OffenceAdmissionSettings settings);

    // Judges one datagram that starts with the offence magic; `out` holds the report
    // when Accepted.
    ReportVerdict judge(std::span<const std::byte> datagram, const BanHelper& helper,
                        std::int64_t now, OffenceReport& out);

    // The report's rule is one the configuration has.
    bool configured(const OffenceReport& report) const noexcept;

  private:
    OffenceAdmissionSettings settings_;
    TokenBucket tokens_;
};

}  // namespace xmlrpcguard
