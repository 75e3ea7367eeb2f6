// Where the privileged helper puts bans: the kernel's ipsets (IpsetSink) or, in
// tests, a list (RecordingSink). The kernel expires each entry by its timeout; an
// operator's unban or flush (xmlrpcguardctl) removes entries before that.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "xmlrpcguard/ban_request.hpp"

namespace xmlrpcguard {

// The kernel's largest ipset timeout (IPSET_MAX_TIMEOUT, ~24.8 days): a longer ban is
// added with this and refreshed by the helper before it runs out.
inline constexpr std::uint32_t kKernelMaxTimeout = 2147483;

class BanSink {
  public:
    virtual ~BanSink() = default;
    // Adds (or refreshes) the entry for request.key/prefix with a timeout of
    // request.seconds. On failure returns false and says why in `error`.
    virtual bool add(const BanRequest& request, std::string& error) = 0;
    // Removes the entry for request.key/prefix (absent is fine; seconds unused).
    virtual bool remove(const BanRequest& request, std::string& error) = 0;
    // Removes every entry.
    virtual bool flush(std::string& error) = 0;
};

class RecordingSink final : public BanSink {
  public:
    bool add(const BanRequest& request, std::string& error) override {
        if (fail_with.empty()) {
            added.push_back(request);
            return true;
        }
        error = fail_with;
        return false;
    }
    bool remove(const BanRequest& request, std::string& error) override {
        if (!fail_with.empty()) {
            error = fail_with;
            return false;
        }
        removed.push_back(request);
        return true;
    }
    bool flush(std::string& error) override {
        if (!fail_with.empty()) {
            error = fail_with;
            return false;
        }
        ++flushes;
        return true;
    }
    std::vector<BanRequest> added;
    std::vector<BanRequest> removed;
    int flushes = 0;
    std::string fail_with;  // non-empty: every call fails with this message
};

}  // namespace xmlrpcguard
