// The state file: the shared table's bans, their reasons, the times each address was
// banned and the open offence windows, kept across a stop of httpd, a crash or a
// reboot (the table itself lives in anonymous shared memory). Written and read only
// by the ban helper (root): a root-owned 0600 file in a root-owned directory that
// nobody else may write, so httpd's User (and PHP) cannot plant bans through it.
//
// Format (little-endian, version 1):
//   header  "XRGSTATE" | u32 version | u32 entry size (132) | u32 count | u32 0 |
//           i64 written_at
//   entries count x { 16-byte key | i64 ban_until | i64 banned_since |
//           i64 last_offence | u32 times_banned | u32 offences | u8 reason |
//           u8 httpd_only | u8 ring_size | u8 0 | u32 ring[20] }
//   trailer u32 CRC-32 (IEEE) of everything before it
// Written atomically: a temporary file in the same directory, fsync, rename over the
// old one, fsync of the directory. A file that does not parse exactly (truncated,
// bad checksum, foreign magic, another version, odd fields) is moved aside whole,
// never half-used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xmlrpcguard/window_table.hpp"

namespace xmlrpcguard {

inline constexpr std::uint32_t kStateVersion = 1;
inline constexpr std::size_t kStateHeaderBytes = 32;
inline constexpr std::size_t kStateEntryBytes = 132;
inline constexpr std::size_t kStateMaxEntries = 16u * 1024 * 1024;  // XmlRpcGuardTableSize's limit

std::uint32_t crc32(std::string_view bytes) noexcept;

struct DecodedState {
    std::int64_t written_at = 0;
    std::vector<SavedEntry> entries;
};

std::string encode_state(const std::vector<SavedEntry>& entries, std::int64_t written_at);
// nullopt, and why in `why`, unless `bytes` is exactly one well-formed state.
std::optional<DecodedState> decode_state(std::string_view bytes, std::string& why);

class StateFile {
  public:
    explicit StateFile(std::string path) : path_(std::move(path)) {}

    const std::string& path() const noexcept { return path_; }

    struct Saved {
        bool ok = false;
        std::size_t entries = 0;
        std::string error;
    };
    // Every entry with an active ban, a ban before (its count), or an offence newer
    // than now - window_seconds (an open window).
    Saved save(const WindowTable& table, std::int64_t now, std::uint32_t window_seconds) const;

    enum class Outcome : std::uint8_t {
        Restored,  // read and put into the table (maybe zero entries)
        Missing,   // no file: a first start
        Rejected,  // unusable: moved aside to `moved_to` (or left if it could not be)
        Unsafe,    // its directory or the file could be written by someone but root: ignored
        Failed,    // could not be read (an I/O error): left where it is
    };
    struct Loaded {
        Outcome outcome = Outcome::Missing;
        std::size_t restored = 0;  // entries put into the table
        std::size_t bans = 0;      // of them, bans still running
        std::size_t skipped = 0;   // nothing left to keep, or the bucket held only bans
        std::int64_t written_at = 0;
        std::string why;
        std::string moved_to;
    };
    Loaded load(WindowTable& table, std::int64_t now) const;

    // Whether the directory is root's alone (owned by uid 0, written by nobody else);
    // `why` says what is wrong. The helper neither reads nor writes a state file elsewhere.
    bool directory_is_safe(std::string& why) const;

    // The file's I/O, also for files kept beside it (the prefix bans'): `bytes` written
    // atomically (a temporary file, fsync, rename, fsync of the directory); and read
    // back only from a safe directory, a root-owned 0600 regular file of at most
    // `max_bytes`, which `decode` must accept whole, else it is moved aside (Rejected).
    bool write_bytes(std::string_view bytes, std::string& error) const;
    Loaded read_bytes(std::string& bytes, std::size_t max_bytes, std::int64_t now,
                      const std::function<bool(std::string_view, std::string&)>& decode) const;

  private:
    std::string path_;
};

}  // namespace xmlrpcguard
