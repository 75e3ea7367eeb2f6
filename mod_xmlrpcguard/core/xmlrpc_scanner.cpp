// Placeholder: the scanner lands with the foundation issue.
#include "xmlrpcguard/xmlrpc_scanner.hpp"

namespace xmlrpcguard {
const char* to_string(ScanStatus status) noexcept {
    switch (status) {
        case ScanStatus::Incomplete: return "incomplete";
        case ScanStatus::Complete: return "complete";
        case ScanStatus::OverLimit: return "over_limit";
        case ScanStatus::Malformed: return "malformed";
    }
    return "unknown";
}
}  // namespace xmlrpcguard
