#include "offence_admission.hpp"

#include <algorithm>

namespace xmlrpcguard {

const char* to_string(ReportVerdict verdict) noexcept {
    switch (verdict) {
        case ReportVerdict::Accepted:
            return "accepted";
        case ReportVerdict::Malformed:
            return "malformed";
        case ReportVerdict::Protected:
            return "a protected address";
        case ReportVerdict::UnknownRule:
            return "a rule no reporting vhost has";
        case ReportVerdict::OverRate:
            return "over the reports' rate ceiling";
    }
    return "unknown";
}

OffenceAdmission::OffenceAdmission(OffenceAdmissionSettings settings)
    : settings_(std::move(settings)), tokens_(settings_.per_second, settings_.burst) {}

bool OffenceAdmission::configured(const OffenceReport& report) const noexcept {
    return std::any_of(
        settings_.rules.begin(), settings_.rules.end(), [&](const OffenceRule& rule) {
            return rule.findtime == report.rule.findtime && rule.maxretry == report.rule.maxretry &&
                   rule.bantime == report.bantime &&
                   (report.key.is_ipv4() || rule.ipv6_prefix == report.prefix);
        });
}

ReportVerdict OffenceAdmission::judge(std::span<const std::byte> datagram, const BanHelper& helper,
                                      std::int64_t now, OffenceReport& out) {
    auto report = decode_offence(datagram);
    if (!report) {
        return ReportVerdict::Malformed;
    }
    if (helper.is_protected(BanRequest{report->key, report->prefix, report->bantime})) {
        return ReportVerdict::Protected;
    }
    if (!configured(*report)) {
        return ReportVerdict::UnknownRule;
    }
    if (!tokens_.take(now)) {
        return ReportVerdict::OverRate;
    }
    out = *report;
    return ReportVerdict::Accepted;
}

}  // namespace xmlrpcguard
