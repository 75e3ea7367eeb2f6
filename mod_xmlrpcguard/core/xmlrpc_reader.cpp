#include "xmlrpc_reader.hpp"

#include <algorithm>

namespace xmlrpcguard::detail {

namespace {

constexpr std::size_t kMaxKeyText = RequestScan::kMaxMethodName;
constexpr std::size_t kMaxRootName = 32;
constexpr std::uint64_t kFnvOffset = TagText::kOffsetBasis;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;
static_assert(TagText::kLeadCap >= kMaxKeyText, "an untyped value's start is kept whole");

bool is_php_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0' || c == '\x0B';
}

std::string_view at_most(std::string_view text, std::size_t bytes) noexcept {
    return text.substr(0, std::min(text.size(), bytes));
}

std::uint64_t fnv1a(std::uint64_t hash, std::string_view bytes) noexcept {
    for (char c : bytes) {
        hash = (hash ^ static_cast<unsigned char>(c)) * kFnvPrime;
    }
    return hash;
}

int base64_digit(char c) noexcept {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

}  // namespace

// PHP's base64_decode() without $strict: '=' and every byte outside the alphabet are
// skipped wherever they stand, and decoding goes on after them.
void decode_base64(std::string_view text, std::string& out) {
    out.clear();
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (char c : text) {
        int digit = base64_digit(c);
        if (digit < 0) {
            continue;
        }
        bits = (bits << 6) | static_cast<std::uint32_t>(digit);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            out.push_back(static_cast<char>((bits >> bit_count) & 0xFF));
        }
    }
}

void TagText::clear() noexcept {
    kept_.clear();
    leading_.clear();
    overflow_hash_ = overflow_running_ = kFnvOffset;
    overflow_length_ = overflow_seen_ = 0;
    overflow_base64_ = false;
}

void TagText::append(std::string_view text) {
    if (kept_.empty()) {
        std::size_t first = 0;
        while (first < text.size() && is_php_space(text[first])) {
            ++first;
        }
        leading_.append(at_most(text.substr(0, first), kLeadCap - leading_.size()));
        text.remove_prefix(first);
    }
    std::size_t room = kCap - kept_.size();
    kept_.append(at_most(text, room));
    if (text.size() <= room) {
        return;
    }
    for (char c : text.substr(room)) {
        overflow_running_ = (overflow_running_ ^ static_cast<unsigned char>(c)) * kFnvPrime;
        ++overflow_seen_;
        if (!is_php_space(c)) {
            overflow_hash_ = overflow_running_;
            overflow_length_ = overflow_seen_;
            overflow_base64_ = overflow_base64_ || base64_digit(c) >= 0;
        }
    }
}

std::string_view TagText::trimmed() const noexcept {
    std::string_view text = kept_;
    if (fits()) {
        while (!text.empty() && is_php_space(text.back())) {
            text.remove_suffix(1);
        }
    }
    return text;
}

void TagText::trimmed_key(std::string& out) const {
    out.assign(trimmed());
    if (!fits()) {
        std::uint64_t identity = trimmed_identity();
        out.push_back('\0');
        out.append(reinterpret_cast<const char*>(&identity), sizeof identity);
        out.append(reinterpret_cast<const char*>(&overflow_length_), sizeof overflow_length_);
    }
}

std::string_view TagText::exact(std::size_t bytes, std::string& scratch) const {
    if (leading_.empty()) {
        return at_most(kept_, bytes);
    }
    scratch.assign(leading_);
    scratch.append(at_most(kept_, bytes));
    return at_most(scratch, bytes);
}

std::uint64_t TagText::trimmed_identity() const noexcept {
    std::uint64_t hash = fnv1a(kFnvOffset, trimmed());
    return (hash ^ overflow_hash_) * kFnvPrime + overflow_length_;
}

void XmlRpcReader::clear() noexcept {
    text_.clear();
    frames_.clear();
    names_.clear();
    first_value_keys_.clear();
    first_value_elements_ = 0;
    root_.clear();
    message_type_.clear();
    method_name_.clear();
    top_level_values_ = 0;
    too_many_names_ = false;
}

void XmlRpcReader::on_text(std::string_view text) {
    text_.append(text);
}

void XmlRpcReader::on_open(std::string_view name) {
    text_.clear();
    if (root_.empty()) {
        root_ = at_most(name.empty() ? std::string_view("?") : name, kMaxRootName);
    }
    if (name == "methodCall" || name == "methodResponse" || name == "fault") {
        message_type_ = name;
    } else if (name == "data" || name == "struct") {
        Frame frame;
        frame.is_struct = name == "struct";
        frame.item.is_struct = frame.is_struct;
        if (frames_.empty()) {
            frame.is_item = true;
            frame.holds_calls = top_level_values_ == 0;
        } else {
            frame.is_item = frames_.size() == 1 && frames_[0].holds_calls;
        }
        frames_.push_back(std::move(frame));
    }
}

// The trimmed text as WordPress compares it: a text longer than the cap is cut to
// kMaxKeyText bytes, longer than any name it could be compared with.
std::string_view XmlRpcReader::trimmed_text() const {
    return at_most(text_.fits() ? text_.trimmed() : text_.kept(), kMaxKeyText);
}

void XmlRpcReader::on_close(std::string_view name) {
    using Kind = ListItem::KeyKind;
    if (name == "int" || name == "i4") {
        attach(Kind::Int, trimmed_text());
    } else if (name == "string") {
        attach(Kind::String, trimmed_text());
    } else if (name == "value") {
        // IXR: (string)$this->_currentTagContents, untrimmed: "\n pingback.ping" is a
        // name WordPress does not know, and so is " pingback.ping".
        if (!text_.blank()) {
            attach(Kind::String, text_.exact(kMaxKeyText, scratch_));
        }
    } else if (name == "base64") {
        decode_base64(text_.kept(), scratch_);
        if (text_.overflow_has_base64()) {
            scratch_.append(kMaxKeyText, '=');  // it decodes to more than was kept
        }
        attach(Kind::String, at_most(scratch_, kMaxKeyText));
    } else if (name == "double" || name == "boolean" || name == "dateTime.iso8601") {
        attach(Kind::Other, {});
    } else if ((name == "data" || name == "struct") && !frames_.empty()) {
        Frame closed = std::move(frames_.back());
        frames_.pop_back();
        attach_value(closed.item, Kind::Other, {});
    } else if (name == "member") {
        if (!names_.empty()) {
            names_.pop_back();
        }
    } else if (name == "name") {
        if (names_.size() < kMaxNames) {
            Name& pushed = names_.emplace_back();
            text_.trimmed_key(pushed.key);
            pushed.is_key = text_.fits() && text_.trimmed() == key_member_;
        } else {
            too_many_names_ = true;
        }
    } else if (name == "methodName") {
        method_name_ = trimmed_text();
    }
    text_.clear();
}

void XmlRpcReader::attach(ListItem::KeyKind kind, std::string_view text) {
    static const ListItem scalar;
    attach_value(scalar, kind, text);
}

// Where IXR puts a finished value: a parameter when no container is open, else the
// innermost container: appended to an array, or under the name on top of the stack
// in a struct.
void XmlRpcReader::attach_value(const ListItem& value, ListItem::KeyKind kind,
                                std::string_view text) {
    if (frames_.empty()) {
        on_item(ItemList::TopLevelValues, top_level_values_++, value);
        return;
    }
    Frame& container = frames_.back();
    if (container.is_struct && container.is_item && !names_.empty() && names_.back().is_key) {
        container.item.key_kind = kind;
        container.item.key_text.assign(text);
    }
    if (container.holds_calls) {
        on_item(ItemList::FirstValueElements, place_in_first_value(container), value);
    }
}

// An array appends; a struct keeps a key where it was first set.
std::size_t XmlRpcReader::place_in_first_value(Frame& container) {
    if (!container.is_struct) {
        return first_value_elements_++;
    }
    static const std::string kEmptyName;  // IXR's key when no <name> is open: null, ""
    const std::string& key = names_.empty() ? kEmptyName : names_.back().key;
    auto [place, added] = first_value_keys_.try_emplace(key, first_value_elements_);
    if (added) {
        ++first_value_elements_;
    }
    return place->second;
}

}  // namespace xmlrpcguard::detail
