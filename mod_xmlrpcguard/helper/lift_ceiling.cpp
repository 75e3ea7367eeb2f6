#include "lift_ceiling.hpp"

namespace xmlrpcguard {

bool LiftCeiling::flush(std::int64_t now) noexcept {
    if (flushed_ && now - flushed_at_ < settings_.flush_interval) {
        return false;
    }
    flushed_ = true;
    flushed_at_ = now;
    return true;
}

}  // namespace xmlrpcguard
