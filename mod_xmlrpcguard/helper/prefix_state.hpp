// The prefix bans kept across a stop of httpd, in a file beside the state file
// (PATH.prefixes), written and read only by the ban helper with the state file's own
// I/O (atomic write; read only from a root-owned 0600 file in a root-only directory).
//
// Format (little-endian, version 1):
//   header  "XRGPREFX" | u32 version | u32 entry size (40) | u32 count | u32 0 |
//           i64 written_at
//   entries count x { 16-byte network (IPv4 mapped) | u8 prefix length (IPv4 bits for
//           IPv4) | u8 httpd_only | u16 0 | u32 times_banned | i64 ban_until |
//           i64 banned_since }
//   trailer u32 CRC-32 (IEEE) of everything before it
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state_file.hpp"
#include "xmlrpcguard/prefix_table.hpp"

namespace xmlrpcguard {

inline constexpr std::size_t kPrefixStateEntryBytes = 40;
inline constexpr std::size_t kPrefixStateMaxEntries = 1u << 16;

struct DecodedPrefixes {
    std::int64_t written_at = 0;
    std::vector<SavedPrefix> prefixes;
};

std::string encode_prefix_state(const std::vector<SavedPrefix>& prefixes, std::int64_t written_at);
// nullopt, and why, unless `bytes` is exactly one well-formed file: every prefix of a
// length a prefix message could carry, with no bits past it.
std::optional<DecodedPrefixes> decode_prefix_state(std::string_view bytes, std::string& why);

class PrefixStateFile {
  public:
    // `state_path`: XmlRpcGuardStateFile; the prefixes go to state_path + ".prefixes".
    explicit PrefixStateFile(const std::string& state_path) : file_(state_path + ".prefixes") {}

    const std::string& path() const noexcept { return file_.path(); }

    // Running prefix bans, and prefixes banned before (their count lengthens the next).
    StateFile::Saved save(const PrefixTable& table, std::int64_t now) const;
    StateFile::Loaded load(PrefixTable& table, std::int64_t now) const;

  private:
    StateFile file_;
};

}  // namespace xmlrpcguard
