// The third message an httpd child may send the privileged helper, when the server is
// one node of a fleet (XmlRpcGuardCluster with XmlRpcGuardClusterNameKey): "one
// failure of this user name under this vhost's rule". The helper turns the folded name
// into the fleet's name hash (a key only the helpers hold), remembers which of this
// node's own user table records that hash stands for, and batches the failure to
// Redis, where the fleet's per-name window lives. Fixed size, versioned and checked
// field by field like the ban message: the sender is the part of httpd an attacker
// talks to (and PHP, under mod_php).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "xmlrpcguard/user_names.hpp"
#include "xmlrpcguard/user_table.hpp"

namespace xmlrpcguard {

struct NameFailureReport {
    std::uint8_t vhost_slot = 0;   // the vhost's slot in this node's user table
    std::uint64_t vhost_id = 0;    // the vhost's id (ServerName and port): the same on every node
    std::uint64_t local_hash = 0;  // this node's own keyed hash of the name (its table's key)
    UserRule rule;                 // the vhost's XmlRpcGuardUserFindTime/MaxRetry/LockTime
    std::string folded;            // login_fold() of the name: 1..kMaxUserName + 1 bytes

    friend bool operator==(const NameFailureReport& a, const NameFailureReport& b) noexcept {
        return a.vhost_slot == b.vhost_slot && a.vhost_id == b.vhost_id &&
               a.local_hash == b.local_hash && a.rule.findtime == b.rule.findtime &&
               a.rule.maxretry == b.rule.maxretry && a.rule.locktime == b.rule.locktime &&
               a.folded == b.folded;
    }
};

inline constexpr std::size_t kNameMessageSize = 176;
using NameMessage = std::array<std::byte, kNameMessageSize>;
// login_fold() yields at most kMaxUserName bytes, or kOverlongFold.
inline constexpr std::size_t kMaxFoldedName = kMaxUserName + 1;
// The longest XmlRpcGuardUserFindTime / LockTime a report may carry.
inline constexpr std::uint32_t kMaxUserSeconds = 3650u * 86400u;

NameMessage encode(const NameFailureReport& report) noexcept;

// nullopt unless the bytes are exactly one well-formed name message: size, magic,
// version, a slot below UserTable::kVhosts, a non-zero vhost id and local hash, a
// maxretry of 1..UserTable::kMaxRetryCap, a findtime and locktime of 1 s..10 years, a
// name of 1..kMaxFoldedName bytes and zero bytes after it.
std::optional<NameFailureReport> decode_name_failure(std::span<const std::byte> bytes) noexcept;

// The first bytes of a name message: lets the helper route a datagram.
bool looks_like_name_failure(std::span<const std::byte> bytes) noexcept;

// The fleet's name key from the secret every node's XmlRpcGuardClusterNameKey file
// holds (at least kMinNameSecret bytes): two SipHash-2-4 passes under fixed keys, so
// every node derives the same 128 bits and the file's text never sits in memory longer
// than this call.
inline constexpr std::size_t kMinNameSecret = 32;
NameKey fleet_name_key(std::string_view secret) noexcept;

// The fleet's hash of (vhost, folded name): what Redis sees instead of the name. Never 0.
std::uint64_t fleet_name_hash(const NameKey& key, std::uint64_t vhost_id,
                              std::string_view folded) noexcept;

}  // namespace xmlrpcguard
