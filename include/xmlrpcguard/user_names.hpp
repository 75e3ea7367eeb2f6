// Who is being guessed: the user name of an authenticating call, as WordPress 6.1
// reads it, reduced to the account it reaches, and kept only as a keyed hash.
//  * auth_user_position(): the parameter index of the user name of each XML-RPC
//    method of wp_xmlrpc_server that calls login() (read from Debian's
//    class-wp-xmlrpc-server.php), -1 for the others;
//  * login_fold(): what wp_authenticate()'s sanitize_user() and MySQL's
//    case-insensitive collation make of a name, so "Admin", " ADMIN ", "ad%41min"'s
//    decoded spelling and "&#65;dmin" after IXR meet at one key;
//  * NameHasher: SipHash-2-4 of the folded name under a secret 128-bit key;
//  * FormLogReader: the `log` field of an application/x-www-form-urlencoded body
//    as PHP's parser yields it (the last one wins; `log[...]` is an array, which
//    WordPress cannot authenticate), read as it streams, bounded.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace xmlrpcguard {

// user_login is varchar(60) and user_email varchar(100): a name longer than this
// (after IXR and PHP's trim) reaches an account only when padded with what
// sanitize_user() deletes (octets, tags, entities), which no real client sends.
inline constexpr std::size_t kMaxUserName = 128;

// login_fold() of every such name: one name for the guard, so that padding a name
// cannot step around its lock (the padded guesses lock this name instead). No fold of
// a name that fits contains a NUL: strip_tags() deletes them.
inline constexpr std::string_view kOverlongFold{"\0overlong", 9};

// What the readers keep of a name: PHP-trimmed (wp_strip_all_tags() trims anyway, so
// the ends never change the account) and at most kMaxUserName + 1 bytes, enough for
// login_fold() to tell an overlong name.
std::string_view kept_user_name(std::string_view text) noexcept;

// -1: the method authenticates no one.
int auth_user_position(std::string_view method) noexcept;

// sanitize_user() (not strict) then the collation's view: tags stripped, Latin-1
// accents removed (remove_accents()), %XX octets and &...; entities killed, PHP's
// trim, runs of white space made one space, ASCII case folded; kOverlongFold for a
// name longer than kMaxUserName.
std::string login_fold(std::string_view name);

// A printable, escaped, truncated form for the error log (never more than ~48 bytes).
std::string loggable_name(std::string_view name);

using NameKey = std::array<std::uint64_t, 2>;

std::uint64_t siphash24(const NameKey& key, std::span<const unsigned char> bytes) noexcept;

class NameHasher {
  public:
    explicit NameHasher(const NameKey& key) noexcept : key_(key) {}
    // Of login_fold(name); never 0 (0 marks an empty slot in the user table).
    std::uint64_t operator()(std::string_view name) const;

  private:
    NameKey key_;
};

class FormLogReader {
  public:
    void feed(std::span<const char> bytes);
    void finish();
    // The value of the last complete `log` field so far (decoded, at most
    // kMaxUserName bytes), or absent.
    bool has_log() const noexcept { return has_log_; }
    const std::string& log() const noexcept { return log_; }
    // A `log` value completed since the last call (for the streaming check).
    bool take_new_log() noexcept;
    void reset();

  private:
    void end_field();
    void add(char c);
    enum class Part : std::uint8_t { Key, Value };
    Part part_ = Part::Key;
    std::string key_;  // decoded, at most 16 bytes kept
    bool key_long_ = false;
    std::string value_;  // decoded, leading white space skipped, at most kMaxUserName + 1 bytes
    bool value_long_ = false;  // a byte other than white space came past value_'s room
    int pending_ = 0;          // 0: none; 1: '%' seen; 2: '%' and one hex digit
    char hex_ = 0;
    bool has_log_ = false;
    bool fresh_ = false;
    std::string log_;
};

}  // namespace xmlrpcguard
