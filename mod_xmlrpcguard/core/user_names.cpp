#include "xmlrpcguard/user_names.hpp"

#include "accents.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace xmlrpcguard {

namespace {

// Parameter index of the user name in every method of wp_xmlrpc_server (WordPress
// 6.1) that calls login(); checked one by one in class-wp-xmlrpc-server.php.
constexpr std::pair<std::string_view, int> kPositions[] = {
    {"wp.getUsersBlogs", 0},
    {"wp.newPost", 1},
    {"wp.editPost", 1},
    {"wp.deletePost", 1},
    {"wp.getPost", 1},
    {"wp.getPosts", 1},
    {"wp.newTerm", 1},
    {"wp.editTerm", 1},
    {"wp.deleteTerm", 1},
    {"wp.getTerm", 1},
    {"wp.getTerms", 1},
    {"wp.getTaxonomy", 1},
    {"wp.getTaxonomies", 1},
    {"wp.getUser", 1},
    {"wp.getUsers", 1},
    {"wp.getProfile", 1},
    {"wp.editProfile", 1},
    {"wp.getPage", 2},
    {"wp.getPages", 1},
    {"wp.newPage", 1},
    {"wp.deletePage", 1},
    {"wp.editPage", 2},
    {"wp.getPageList", 1},
    {"wp.getAuthors", 1},
    {"wp.getCategories", 1},
    {"wp.getTags", 1},
    {"wp.newCategory", 1},
    {"wp.deleteCategory", 1},
    {"wp.suggestCategories", 1},
    {"wp.uploadFile", 1},
    {"wp.deleteFile", 1},
    {"wp.getCommentCount", 1},
    {"wp.getPostStatusList", 1},
    {"wp.getPageStatusList", 1},
    {"wp.getPageTemplates", 1},
    {"wp.getOptions", 1},
    {"wp.setOptions", 1},
    {"wp.getComment", 1},
    {"wp.getComments", 1},
    {"wp.deleteComment", 1},
    {"wp.editComment", 1},
    {"wp.newComment", 1},
    {"wp.getCommentStatusList", 1},
    {"wp.getMediaItem", 1},
    {"wp.getMediaLibrary", 1},
    {"wp.getPostFormats", 1},
    {"wp.getPostType", 1},
    {"wp.getPostTypes", 1},
    {"wp.getRevisions", 1},
    {"wp.restoreRevision", 1},
    {"blogger.getUsersBlogs", 1},
    {"blogger.getUserInfo", 1},
    {"blogger.getPost", 2},
    {"blogger.getRecentPosts", 2},
    {"blogger.newPost", 2},
    {"blogger.editPost", 2},
    {"blogger.deletePost", 2},
    {"metaWeblog.newPost", 1},
    {"metaWeblog.editPost", 1},
    {"metaWeblog.getPost", 1},
    {"metaWeblog.getRecentPosts", 1},
    {"metaWeblog.getCategories", 1},
    {"metaWeblog.newMediaObject", 1},
    {"metaWeblog.deletePost", 2},
    {"metaWeblog.getUsersBlogs", 1},
    {"mt.getCategoryList", 1},
    {"mt.getRecentPostTitles", 1},
    {"mt.getPostCategories", 1},
    {"mt.setPostCategories", 1},
    {"mt.publishPost", 1},
};

bool is_php_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0' || c == '\x0B';
}

// PCRE's \s without /u.
bool is_pcre_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\x0B';
}

bool is_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

bool starts_with_nocase(std::string_view text, std::string_view word) noexcept {
    return text.size() >= word.size() &&
           std::equal(word.begin(), word.end(), text.begin(),
                      [](char w, char t) { return w == (t >= 'A' && t <= 'Z' ? t + 32 : t); });
}

// wp_strip_all_tags()'s first step, preg_replace('@<(script|style)[^>]*?>.*?</\1>@si'):
// a script or style element goes with its content, from the first '>' after the name
// to the first closing tag of the same name (any case).
std::string strip_script_and_style(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size();) {
        std::string_view word;
        if (in[i] == '<') {
            word = starts_with_nocase(in.substr(i + 1), "script")  ? "script"
                   : starts_with_nocase(in.substr(i + 1), "style") ? "style"
                                                                   : "";
        }
        std::size_t open_end = word.empty() ? in.npos : in.find('>', i + 1 + word.size());
        std::size_t close = open_end;
        while (close != in.npos) {
            close = in.find("</", close + 1);
            if (close != in.npos && starts_with_nocase(in.substr(close + 2), word) &&
                close + 2 + word.size() < in.size() && in[close + 2 + word.size()] == '>') {
                break;
            }
        }
        if (close == in.npos) {
            out.push_back(in[i++]);
            continue;
        }
        i = close + 3 + word.size();
    }
    return out;
}

bool is_c_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool lower_is(char c, char lower) noexcept {
    return c == lower || c == lower - 32;
}

// PHP 8.2's strip_tags() without allowed tags, rule by rule as the parity suite checks
// them against PHP: NUL bytes go everywhere; '<' followed by white space is text; a tag
// ends at a '>' outside quotes and outside the '<' nested in it; "<!" ends at the
// first '>' outside quotes ("<!--" at "-->", "<!DOCTYPE" as a tag); "<?" ends at "?>"
// outside quotes and parentheses ("<?xml" as a tag, except at the start); a '<' nested
// in a tag waits for a '>' of its own, whatever state that '>' comes in.
std::string strip_tags(std::string_view in) {
    enum class State { Text, Tag, Code, Bang, Comment };
    State state = State::Text;
    std::string out;
    out.reserve(in.size());
    int depth = 0;
    int parens = 0;
    char quote = 0;      // the quote a tag is inside, if any
    char code_last = 0;  // in "<?": the last quote or parenthesis that counts
    bool xml = false;    // a tag opened as "<?xml": "->" does not end it

    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        char before = i > 0 ? in[i - 1] : '\0';
        bool space_next = i + 1 < in.size() && is_c_space(in[i + 1]);
        if (c == '\0') {
            continue;
        }
        switch (state) {
            case State::Text:
                if (c == '<' && !space_next) {
                    state = State::Tag;
                } else if (c == '>' && depth > 0) {
                    --depth;  // left open by a "<!" or "<?" inside a tag
                } else {
                    out.push_back(c);
                }
                break;
            case State::Tag:
                if (c == '<' && !quote && !space_next) {
                    ++depth;
                } else if (c == '>' && depth > 0) {
                    --depth;
                } else if (c == '>' && !quote && !(xml && before == '-')) {
                    state = State::Text;
                } else if ((c == '"' || c == '\'') && (!quote || c == quote)) {
                    quote = quote ? 0 : c;
                } else if (c == '!' && before == '<') {
                    state = State::Bang;
                } else if (c == '?' && before == '<') {
                    state = State::Code;
                    parens = 0;
                }
                break;
            case State::Code:
                if ((c == '(' || c == ')') && code_last != '"' && code_last != '\'') {
                    code_last = c;
                    parens += c == '(' ? 1 : -1;
                } else if (c == '>' && depth > 0) {
                    --depth;
                } else if (c == '>' && !quote && parens == 0 && code_last != '"' && before == '?') {
                    state = State::Text;
                } else if ((c == '"' || c == '\'') && before != '\\') {
                    code_last = code_last == c ? 0 : c;
                    if (!quote || c == quote) {
                        quote = quote ? 0 : c;
                    }
                } else if (lower_is(c, 'l') && i > 4 && lower_is(in[i - 1], 'm') &&
                           lower_is(in[i - 2], 'x') && in[i - 3] == '?' && in[i - 4] == '<') {
                    state = State::Tag;  // "<?xml", not at the very start
                    xml = true;
                }
                break;
            case State::Bang:
                if (c == '>' && depth > 0) {
                    --depth;
                } else if (c == '>' && !quote) {
                    state = State::Text;
                } else if ((c == '"' || c == '\'') && before != '\\' && (!quote || c == quote)) {
                    quote = quote ? 0 : c;
                } else if (c == '-' && before == '-' && i >= 2 && in[i - 2] == '!') {
                    state = State::Comment;
                } else if (lower_is(c, 'e') && i >= 6 && lower_is(in[i - 1], 'p') &&
                           lower_is(in[i - 2], 'y') && lower_is(in[i - 3], 't') &&
                           lower_is(in[i - 4], 'c') && lower_is(in[i - 5], 'o') &&
                           lower_is(in[i - 6], 'd')) {
                    state = State::Tag;
                }
                break;
            case State::Comment:
                if (c == '>' && !quote && i >= 2 && in[i - 1] == '-' && in[i - 2] == '-') {
                    state = State::Text;
                }
                break;
        }
        if (state == State::Text) {
            quote = 0;
            code_last = 0;
            xml = false;
        }
    }
    return out;
}

std::string kill_octets(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size() && is_hex(in[i + 1]) && is_hex(in[i + 2])) {
            i += 2;
            continue;
        }
        out.push_back(in[i]);
    }
    return out;
}

// preg_replace('/&.+?;/', '', ...): from '&' to the first ';' after at least one byte
// (. does not match a newline).
std::string kill_entities(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '&' && i + 1 < in.size() && in[i + 1] != '\n') {
            std::size_t j = i + 2;
            while (j < in.size() && in[j] != ';' && in[j] != '\n') {
                ++j;
            }
            if (j < in.size() && in[j] == ';') {
                i = j;
                continue;
            }
        }
        out.push_back(in[i]);
    }
    return out;
}

std::string_view php_trim(std::string_view text) noexcept {
    while (!text.empty() && is_php_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_php_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

std::uint64_t rotl(std::uint64_t x, int b) noexcept {
    return (x << b) | (x >> (64 - b));
}

}  // namespace

int auth_user_position(std::string_view method) noexcept {
    for (const auto& [name, position] : kPositions) {
        if (name == method) {
            return position;
        }
    }
    return -1;
}

namespace {

// A name that sanitize_user()'s steps before the case fold leave as it is: printable
// ASCII without white space, tags ('<'), octets ('%') or entities ('&'). Most names
// are such, and fold to their lower case without the general path's copies.
bool plain_login(std::string_view name) noexcept {
    for (char c : name) {
        if (c <= ' ' || c > '~' || c == '<' || c == '%' || c == '&') {
            return false;
        }
    }
    return true;
}

char lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

}  // namespace

std::string_view kept_user_name(std::string_view text) noexcept {
    text = php_trim(text);
    return text.substr(0, std::min(text.size(), kMaxUserName + 1));
}

std::string login_fold(std::string_view name) {
    if (name.size() > kMaxUserName) {
        return std::string(kOverlongFold);
    }
    if (plain_login(name)) {
        std::string out(name);
        std::transform(out.begin(), out.end(), out.begin(), lower);
        return out;
    }
    std::string text = strip_tags(strip_script_and_style(name));
    text = std::string(php_trim(text));
    text = detail::remove_accents(text);
    text = kill_octets(text);
    text = kill_entities(text);
    std::string_view trimmed = php_trim(text);
    std::string out;
    bool space = false;
    for (char c : trimmed) {
        if (is_pcre_space(c)) {
            space = true;
            continue;
        }
        if (space) {
            out.push_back(' ');
            space = false;
        }
        out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
    }
    return out;
}

std::string loggable_name(std::string_view name) {
    constexpr std::size_t kShown = 32;
    std::string out;
    for (std::size_t i = 0; i < name.size() && i < kShown; ++i) {
        auto c = static_cast<unsigned char>(name[i]);
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            static const char kHex[] = "0123456789abcdef";
            out.append("\\x");
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    if (name.size() > kShown) {
        out.append("...");
    }
    return out;
}

// SipHash-2-4 (Aumasson and Bernstein), written from the paper's description.
std::uint64_t siphash24(const NameKey& key, std::span<const unsigned char> bytes) noexcept {
    std::uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
    std::uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
    std::uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
    std::uint64_t v3 = 0x7465646279746573ULL ^ key[1];
    auto round = [&] {
        v0 += v1;
        v1 = rotl(v1, 13);
        v1 ^= v0;
        v0 = rotl(v0, 32);
        v2 += v3;
        v3 = rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotl(v1, 17);
        v1 ^= v2;
        v2 = rotl(v2, 32);
    };
    std::size_t n = bytes.size();
    std::size_t whole = n - n % 8;
    for (std::size_t i = 0; i < whole; i += 8) {
        std::uint64_t m = 0;
        for (int b = 0; b < 8; ++b) {
            m |= static_cast<std::uint64_t>(bytes[i + b]) << (8 * b);
        }
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
    std::uint64_t last = static_cast<std::uint64_t>(n & 0xFF) << 56;
    for (std::size_t b = 0; b < n % 8; ++b) {
        last |= static_cast<std::uint64_t>(bytes[whole + b]) << (8 * b);
    }
    v3 ^= last;
    round();
    round();
    v0 ^= last;
    v2 ^= 0xFF;
    round();
    round();
    round();
    round();
    return v0 ^ v1 ^ v2 ^ v3;
}

std::uint64_t NameHasher::operator()(std::string_view name) const {
    auto hash_of = [this](std::string_view folded) {
        std::uint64_t hash = siphash24(
            key_, std::span(reinterpret_cast<const unsigned char*>(folded.data()), folded.size()));
        return hash == 0 ? 1 : hash;
    };
    if (name.size() <= kMaxUserName &&
        plain_login(name)) {  // folded on the stack: no allocation per request
        std::array<char, kMaxUserName> folded;
        std::transform(name.begin(), name.end(), folded.begin(), lower);
        return hash_of({folded.data(), name.size()});
    }
    return hash_of(login_fold(name));
}

// ---- wp-login.php's form ---------------------------------------------------------

void FormLogReader::reset() {
    *this = FormLogReader();
}

void FormLogReader::add(char c) {
    if (part_ == Part::Key) {
        if (key_.size() < 16) {
            key_.push_back(c);
        } else {
            key_long_ = true;
        }
    } else if (value_.empty() && is_php_space(c)) {
        // PHP's trim: the name's leading white space never counts towards its length
    } else if (value_.size() <= kMaxUserName) {
        value_.push_back(c);
    } else if (!is_php_space(c)) {
        value_long_ = true;  // more of the name past what is kept: overlong, trimmed or not
    }
}

// PHP: the name loses its leading spaces; "log" is the field, "log[" starts an array
// (which WordPress cannot authenticate: sanitize_user() of an array is a fatal error).
void FormLogReader::end_field() {
    if (pending_ == 1) {
        add('%');
    } else if (pending_ == 2) {
        add('%');
        add(hex_);
    }
    pending_ = 0;
    std::string_view key = key_;
    while (!key.empty() && key.front() == ' ') {
        key.remove_prefix(1);
    }
    if (!key_long_ && key == "log") {
        has_log_ = true;
        fresh_ = true;
        log_ = value_long_ ? value_ : std::string(kept_user_name(value_));
    } else if (key.substr(0, 4) == "log[") {
        has_log_ = false;  // an array: no name WordPress can use
        log_.clear();
    }
    key_.clear();
    key_long_ = false;
    value_.clear();
    value_long_ = false;
    part_ = Part::Key;
}

void FormLogReader::feed(std::span<const char> bytes) {
    for (char c : bytes) {
        if (pending_ == 1) {
            if (is_hex(c)) {
                hex_ = c;
                pending_ = 2;
                continue;
            }
            pending_ = 0;
            add('%');
        } else if (pending_ == 2) {
            pending_ = 0;
            if (is_hex(c)) {
                add(static_cast<char>(hex_value(hex_) * 16 + hex_value(c)));
                continue;
            }
            add('%');
            add(hex_);
        }
        if (c == '&') {
            end_field();
        } else if (c == '=' && part_ == Part::Key) {
            part_ = Part::Value;
        } else if (c == '%') {
            pending_ = 1;
        } else if (c == '+') {
            add(' ');
        } else {
            add(c);
        }
    }
}

void FormLogReader::finish() {
    if (!key_.empty() || !value_.empty() || part_ == Part::Value) {
        end_field();
    }
}

bool FormLogReader::take_new_log() noexcept {
    bool fresh = fresh_;
    fresh_ = false;
    return fresh && has_log_;
}

}  // namespace xmlrpcguard
