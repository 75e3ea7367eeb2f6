#include "state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "xmlrpcguard/ban_time.hpp"

namespace xmlrpcguard {

namespace {

constexpr std::string_view kMagic = "XRGSTATE";
constexpr std::size_t kTrailerBytes = 4;
constexpr std::size_t kRingLength = WindowTable::kMaxRetryLimit;
static_assert(kStateEntryBytes == 16 + 3 * 8 + 2 * 4 + 4 + kRingLength * 4);

std::array<std::uint32_t, 256> crc_table() {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t n = 0; n < 256; ++n) {
        std::uint32_t c = n;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        table[n] = c;
    }
    return table;
}

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}
void put_u64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

// Reads little-endian numbers from a buffer whose size was checked beforehand.
struct Reader {
    const unsigned char* at;
    std::uint8_t u8() { return *at++; }
    std::uint32_t u32() {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            v |= std::uint32_t{at[i]} << (8 * i);
        }
        at += 4;
        return v;
    }
    std::uint64_t u64() {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) {
            v |= std::uint64_t{at[i]} << (8 * i);
        }
        at += 8;
        return v;
    }
    std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
};

// Seconds since the epoch as the table keeps them: 0 to 2^32 - 1.
bool plausible_time(std::int64_t t) {
    return t >= 0 && t <= std::int64_t{UINT32_MAX};
}

std::string errno_text(const char* what, int error) {
    return std::string(what) + ": " + std::strerror(error);
}

bool write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = write(fd, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string directory_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string stamp(std::int64_t now) {
    std::time_t t = static_cast<std::time_t>(now);
    std::tm utc{};
    gmtime_r(&t, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
    return text;
}

}  // namespace

std::uint32_t crc32(std::string_view bytes) noexcept {
    static const auto table = crc_table();
    std::uint32_t c = 0xFFFFFFFFu;
    for (char ch : bytes) {
        c = table[(c ^ static_cast<unsigned char>(ch)) & 0xff] ^ (c >> 8);
    }
    return c ^ 0xFFFFFFFFu;
}

std::string encode_state(const std::vector<SavedEntry>& entries, std::int64_t written_at) {
    std::string out;
    out.reserve(kStateHeaderBytes + entries.size() * kStateEntryBytes + kTrailerBytes);
    out.append(kMagic);
    put_u32(out, kStateVersion);
    put_u32(out, kStateEntryBytes);
    put_u32(out, static_cast<std::uint32_t>(entries.size()));
    put_u32(out, 0);
    put_u64(out, static_cast<std::uint64_t>(written_at));
    for (const SavedEntry& e : entries) {
        out.append(reinterpret_cast<const char*>(e.address.bytes.data()), 16);
        put_u64(out, static_cast<std::uint64_t>(e.ban_until));
        put_u64(out, static_cast<std::uint64_t>(e.banned_since));
        put_u64(out, static_cast<std::uint64_t>(e.last_offence));
        put_u32(out, e.times_banned);
        put_u32(out, e.offences);
        out.push_back(static_cast<char>(e.reason));
        out.push_back(static_cast<char>(e.httpd_only ? 1 : 0));
        out.push_back(static_cast<char>(std::min<std::size_t>(e.ring_size, kRingLength)));
        out.push_back(0);
        for (std::size_t i = 0; i < kRingLength; ++i) {
            put_u32(out, i < e.ring_size ? e.ring[i] : 0);
        }
    }
    put_u32(out, crc32(out));
    return out;
}

std::optional<DecodedState> decode_state(std::string_view bytes, std::string& why) {
    if (bytes.size() < kStateHeaderBytes + kTrailerBytes) {
        why = "truncated: " + std::to_string(bytes.size()) + " bytes, shorter than a header";
        return std::nullopt;
    }
    if (bytes.substr(0, kMagic.size()) != kMagic) {
        why = "not a mod_xmlrpcguard state file (no XRGSTATE magic)";
        return std::nullopt;
    }
    Reader header{reinterpret_cast<const unsigned char*>(bytes.data()) + kMagic.size()};
    std::uint32_t version = header.u32();
    std::uint32_t entry_size = header.u32();
    std::uint32_t count = header.u32();
    std::uint32_t reserved = header.u32();
    std::int64_t written_at = header.i64();
    if (version != kStateVersion) {
        why = "version " + std::to_string(version) +
              (version > kStateVersion ? " is newer than" : " is not") + " this module's " +
              std::to_string(kStateVersion);
        return std::nullopt;
    }
    if (entry_size != kStateEntryBytes || reserved != 0 || count > kStateMaxEntries) {
        why = "bad header (entry size " + std::to_string(entry_size) + ", count " +
              std::to_string(count) + ")";
        return std::nullopt;
    }
    std::size_t expected =
        kStateHeaderBytes + std::size_t{count} * kStateEntryBytes + kTrailerBytes;
    if (bytes.size() != expected) {
        why = (bytes.size() < expected ? "truncated: " : "trailing bytes: ") +
              std::to_string(bytes.size()) + " bytes where " + std::to_string(count) +
              " entries take " + std::to_string(expected);
        return std::nullopt;
    }
    Reader trailer{reinterpret_cast<const unsigned char*>(bytes.data()) + expected - kTrailerBytes};
    if (trailer.u32() != crc32(bytes.substr(0, expected - kTrailerBytes))) {
        why = "checksum mismatch";
        return std::nullopt;
    }
    if (!plausible_time(written_at)) {
        why = "bad time of writing";
        return std::nullopt;
    }
    DecodedState state;
    state.written_at = written_at;
    state.entries.reserve(count);
    Reader r{reinterpret_cast<const unsigned char*>(bytes.data()) + kStateHeaderBytes};
    for (std::uint32_t n = 0; n < count; ++n) {
        SavedEntry e;
        std::memcpy(e.address.bytes.data(), r.at, 16);
        r.at += 16;
        e.ban_until = r.i64();
        e.banned_since = r.i64();
        e.last_offence = r.i64();
        e.times_banned = r.u32();
        e.offences = r.u32();
        std::uint8_t reason = r.u8();
        std::uint8_t httpd_only = r.u8();
        e.ring_size = r.u8();
        std::uint8_t pad = r.u8();
        for (std::size_t i = 0; i < kRingLength; ++i) {
            e.ring[i] = r.u32();
        }
        if (reason > static_cast<std::uint8_t>(BanReason::Manual) || httpd_only > 1 ||
            e.ring_size > kRingLength || pad != 0 || !plausible_time(e.ban_until) ||
            !plausible_time(e.banned_since) || !plausible_time(e.last_offence)) {
            why = "entry " + std::to_string(n) + " is malformed";
            return std::nullopt;
        }
        e.reason = static_cast<BanReason>(reason);
        e.httpd_only = httpd_only != 0;
        state.entries.push_back(e);
    }
    return state;
}

bool StateFile::directory_is_safe(std::string& why) const {
    std::string dir = directory_of(path_);
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) {
        why = errno_text(dir.c_str(), errno);
        return false;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        why = dir + " must be a directory owned by root that no group or other user may write";
        return false;
    }
    return true;
}

StateFile::Saved StateFile::save(const WindowTable& table, std::int64_t now,
                                 std::uint32_t window_seconds) const {
    Saved saved;
    if (!directory_is_safe(saved.error)) {
        return saved;
    }
    std::vector<SavedEntry> entries;
    std::int64_t horizon = now - static_cast<std::int64_t>(window_seconds);
    table.for_each_saved([&](const SavedEntry& e) {
        bool open_window = e.ring_size > 0 && e.last_offence > horizon;
        if (e.ban_until > now || e.times_banned > 0 || open_window) {
            entries.push_back(e);
        }
    });
    std::string bytes = encode_state(entries, now);
    saved.ok = write_bytes(bytes, saved.error);
    saved.entries = saved.ok ? entries.size() : 0;
    return saved;
}

bool StateFile::write_bytes(std::string_view bytes, std::string& error) const {
    std::string temporary = path_ + ".tmp";
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(temporary.c_str(), flags, 0600);
    if (fd < 0 && errno == EEXIST) {  // left by a helper killed while writing
        unlink(temporary.c_str());
        fd = open(temporary.c_str(), flags, 0600);
    }
    if (fd < 0) {
        error = errno_text(temporary.c_str(), errno);
        return false;
    }
    bool written = write_all(fd, bytes) && fsync(fd) == 0;
    int code = errno;
    close(fd);
    if (!written || rename(temporary.c_str(), path_.c_str()) != 0) {
        code = written ? errno : code;
        unlink(temporary.c_str());
        error = errno_text(written ? "rename" : "write", code);
        return false;
    }
    // The rename itself must reach the disk, or a crash may bring back the old file.
    int dir = open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        fsync(dir);
        close(dir);
    }
    return true;
}

StateFile::Loaded StateFile::read_bytes(
    std::string& bytes, std::size_t max_bytes, std::int64_t now,
    const std::function<bool(std::string_view, std::string&)>& decode) const {
    Loaded loaded;
    if (!directory_is_safe(loaded.why)) {
        struct stat st {};
        loaded.outcome =
            stat(path_.c_str(), &st) != 0 && errno == ENOENT ? Outcome::Missing : Outcome::Unsafe;
        return loaded;
    }
    int fd = open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        loaded.outcome = errno == ENOENT ? Outcome::Missing : Outcome::Failed;
        loaded.why = errno_text(path_.c_str(), errno);
        if (errno == ELOOP) {
            loaded.outcome = Outcome::Rejected;
            loaded.why = "a symbolic link";
        }
    }
    if (fd >= 0) {
        struct stat st {};
        if (fstat(fd, &st) != 0) {
            loaded.outcome = Outcome::Failed;
            loaded.why = errno_text("fstat", errno);
        } else if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077) != 0) {
            loaded.outcome = Outcome::Rejected;
            loaded.why = "not a regular file owned by root with mode 0600";
        } else if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
            loaded.outcome = Outcome::Rejected;
            loaded.why = "larger than any state file";
        } else {
            bytes.resize(static_cast<std::size_t>(st.st_size));
            std::size_t got = 0;
            while (got < bytes.size()) {
                ssize_t n = read(fd, bytes.data() + got, bytes.size() - got);
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                if (n <= 0) {
                    break;
                }
                got += static_cast<std::size_t>(n);
            }
            bytes.resize(got);
            loaded.outcome = decode(bytes, loaded.why) ? Outcome::Restored : Outcome::Rejected;
        }
        close(fd);
    }
    if (loaded.outcome == Outcome::Rejected) {
        std::string aside = path_ + ".bad-" + stamp(now);
        if (rename(path_.c_str(), aside.c_str()) == 0) {
            loaded.moved_to = aside;
        }
        return loaded;
    }
    return loaded;
}

StateFile::Loaded StateFile::load(WindowTable& table, std::int64_t now) const {
    std::string bytes;
    std::optional<DecodedState> state;
    Loaded loaded = read_bytes(bytes, kStateHeaderBytes + kStateMaxEntries * kStateEntryBytes + 4,
                               now, [&](std::string_view read, std::string& why) {
                                   state = decode_state(read, why);
                                   return state.has_value();
                               });
    if (!state) {
        return loaded;
    }
    loaded.written_at = state->written_at;
    for (SavedEntry& e : state->entries) {
        // A ban never runs longer than the formula allows from the time it was saved.
        e.ban_until = std::min(e.ban_until, state->written_at + std::int64_t{kMaxBanSeconds});
        if (e.ban_until <= now && e.times_banned == 0 && e.ring_size == 0) {
            ++loaded.skipped;
            continue;
        }
        if (table.restore(e, now)) {
            ++loaded.restored;
            loaded.bans += e.ban_until > now ? 1 : 0;
        } else {
            ++loaded.skipped;
        }
    }
    return loaded;
}

}  // namespace xmlrpcguard
