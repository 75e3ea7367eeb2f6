#include "prefix_state.hpp"

#include <algorithm>
#include <cstring>

#include "xmlrpcguard/ban_time.hpp"
#include "xmlrpcguard/prefix_ban.hpp"

namespace xmlrpcguard {
namespace {

constexpr std::string_view kMagic = "XRGPREFX";
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 32;
constexpr std::size_t kTrailerBytes = 4;

void put(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) {
        out += static_cast<char>(v >> (8 * i));
    }
}

std::uint64_t get(std::string_view& in, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
        v |= std::uint64_t{static_cast<unsigned char>(in[static_cast<std::size_t>(i)])} << (8 * i);
    }
    in.remove_prefix(static_cast<std::size_t>(bytes));
    return v;
}

bool plausible_time(std::int64_t t) {
    return t >= 0 && t <= std::int64_t{UINT32_MAX};
}

}  // namespace

std::string encode_prefix_state(const std::vector<SavedPrefix>& prefixes, std::int64_t written_at) {
    std::string out(kMagic);
    put(out, kVersion, 4);
    put(out, kPrefixStateEntryBytes, 4);
    put(out, prefixes.size(), 4);
    put(out, 0, 4);
    put(out, static_cast<std::uint64_t>(written_at), 8);
    for (const SavedPrefix& p : prefixes) {
        out.append(reinterpret_cast<const char*>(p.prefix.network.bytes.data()), 16);
        put(out, p.prefix.prefix, 1);
        put(out, p.httpd_only ? 1 : 0, 1);
        put(out, 0, 2);
        put(out, p.times_banned, 4);
        put(out, static_cast<std::uint64_t>(p.ban_until), 8);
        put(out, static_cast<std::uint64_t>(p.banned_since), 8);
    }
    put(out, crc32(out), 4);
    return out;
}

std::optional<DecodedPrefixes> decode_prefix_state(std::string_view bytes, std::string& why) {
    if (bytes.size() < kHeaderBytes + kTrailerBytes || bytes.substr(0, kMagic.size()) != kMagic) {
        why = "not a prefix state file";
        return std::nullopt;
    }
    std::string_view in = bytes.substr(kMagic.size());
    std::uint64_t version = get(in, 4), entry_size = get(in, 4), count = get(in, 4),
                  reserved = get(in, 4);
    DecodedPrefixes decoded;
    decoded.written_at = static_cast<std::int64_t>(get(in, 8));
    if (version != kVersion || entry_size != kPrefixStateEntryBytes || reserved != 0 ||
        count > kPrefixStateMaxEntries ||
        bytes.size() != kHeaderBytes + count * kPrefixStateEntryBytes + kTrailerBytes ||
        !plausible_time(decoded.written_at)) {
        why = "a header that does not match its size";
        return std::nullopt;
    }
    std::string_view trailer = bytes.substr(bytes.size() - kTrailerBytes);
    if (get(trailer, 4) != crc32(bytes.substr(0, bytes.size() - kTrailerBytes))) {
        why = "bad checksum";
        return std::nullopt;
    }
    for (std::uint64_t n = 0; n < count; ++n) {
        SavedPrefix p;
        std::memcpy(p.prefix.network.bytes.data(), in.data(), 16);
        in.remove_prefix(16);
        p.prefix.prefix = static_cast<unsigned>(get(in, 1));
        std::uint64_t httpd_only = get(in, 1), zero = get(in, 2);
        p.httpd_only = httpd_only == 1;
        p.times_banned = static_cast<std::uint32_t>(get(in, 4));
        p.ban_until = static_cast<std::int64_t>(get(in, 8));
        p.banned_since = static_cast<std::int64_t>(get(in, 8));
        // What a prefix message could carry, and nothing else (decode_prefix's rules).
        bool fits = decode_prefix(encode_prefix({p.prefix, 1})).has_value();
        if (!fits || httpd_only > 1 || zero != 0 || !plausible_time(p.ban_until) ||
            !plausible_time(p.banned_since)) {
            why = "entry " + std::to_string(n) + " is not a well-formed prefix ban";
            return std::nullopt;
        }
        decoded.prefixes.push_back(p);
    }
    return decoded;
}

StateFile::Saved PrefixStateFile::save(const PrefixTable& table, std::int64_t now) const {
    StateFile::Saved saved;
    if (!file_.directory_is_safe(saved.error)) {
        return saved;
    }
    std::vector<SavedPrefix> prefixes;
    table.for_each(now, 1, [&](const PrefixView& v) {
        if (v.banned_until > now || v.times_banned > 0) {
            prefixes.push_back(
                {v.prefix, v.banned_until, v.banned_since, v.httpd_only, v.times_banned});
        }
    });
    saved.ok = file_.write_bytes(encode_prefix_state(prefixes, now), saved.error);
    saved.entries = saved.ok ? prefixes.size() : 0;
    return saved;
}

StateFile::Loaded PrefixStateFile::load(PrefixTable& table, std::int64_t now) const {
    std::string bytes;
    std::optional<DecodedPrefixes> state;
    StateFile::Loaded loaded = file_.read_bytes(
        bytes, kHeaderBytes + kPrefixStateMaxEntries * kPrefixStateEntryBytes + kTrailerBytes, now,
        [&](std::string_view read, std::string& why) {
            state = decode_prefix_state(read, why);
            return state.has_value();
        });
    if (!state) {
        return loaded;
    }
    loaded.written_at = state->written_at;
    for (SavedPrefix& p : state->prefixes) {
        p.ban_until = std::min(p.ban_until, state->written_at + std::int64_t{kMaxBanSeconds});
        if (table.restore(p, now)) {
            ++loaded.restored;
            loaded.bans += p.ban_until > now ? 1 : 0;
        } else {
            ++loaded.skipped;
        }
    }
    return loaded;
}

}  // namespace xmlrpcguard
