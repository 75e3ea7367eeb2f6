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

Tag tag_of(std::string_view name) noexcept {
    switch (name.size()) {
        case 2:
            return name == "i4" ? Tag::I4 : Tag::Other;
        case 3:
            return name == "int" ? Tag::Int : Tag::Other;
        case 4:
            return name == "data" ? Tag::Data : name == "name" ? Tag::Name : Tag::Other;
        case 5:
            return name == "value" ? Tag::Value : name == "fault" ? Tag::Fault : Tag::Other;
        case 6:
            return name == "string"   ? Tag::String
                   : name == "struct" ? Tag::Struct
                   : name == "member" ? Tag::Member
                   : name == "base64" ? Tag::Base64
                   : name == "double" ? Tag::Double
                                      : Tag::Other;
        case 7:
            return name == "boolean" ? Tag::Boolean : Tag::Other;
        case 10:
            return name == "methodName"   ? Tag::MethodName
                   : name == "methodCall" ? Tag::MethodCall
                                          : Tag::Other;
        case 14:
            return name == "methodResponse" ? Tag::MethodResponse : Tag::Other;
        case 16:
            return name == "dateTime.iso8601" ? Tag::DateTime : Tag::Other;
        default:
            return Tag::Other;
    }
}

void TagText::clear_all() noexcept {
    touched_ = false;
    kept_.clear();
    leading_.clear();
    overflow_hash_ = overflow_running_ = kFnvOffset;
    overflow_length_ = overflow_seen_ = 0;
    overflow_base64_ = false;
}

void TagText::append(std::string_view text) {
    touched_ = true;
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

void XmlRpcReader::open(std::string_view name, Tag tag) {
    text_.clear();
    if (root_.empty()) {
        root_ = at_most(name.empty() ? std::string_view("?") : name, kMaxRootName);
    }
    if (tag == Tag::MethodCall || tag == Tag::MethodResponse || tag == Tag::Fault) {
        message_type_ = name;
    } else if (tag == Tag::Data || tag == Tag::Struct) {
        Frame frame;
        frame.is_struct = tag == Tag::Struct;
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

void XmlRpcReader::close(std::string_view /*name: the tag says all*/, Tag tag) {
    using Kind = ListItem::KeyKind;
    if (tag == Tag::Int || tag == Tag::I4) {
        attach(Kind::Int, trimmed_text());
    } else if (tag == Tag::String) {
        attach(Kind::String, trimmed_text());
    } else if (tag == Tag::Value) {
        // IXR: (string)$this->_currentTagContents, untrimmed: "\n pingback.ping" is a
        // name WordPress does not know, and so is " pingback.ping".
        if (!text_.blank()) {
            attach(Kind::String, text_.exact(kMaxKeyText, scratch_));
        }
    } else if (tag == Tag::Base64) {
        decode_base64(text_.kept(), scratch_);
        if (text_.overflow_has_base64()) {
            scratch_.append(kMaxKeyText, '=');  // it decodes to more than was kept
        }
        attach(Kind::String, at_most(scratch_, kMaxKeyText));
    } else if (tag == Tag::Double || tag == Tag::Boolean || tag == Tag::DateTime) {
        attach(Kind::Other, {});
    } else if ((tag == Tag::Data || tag == Tag::Struct) && !frames_.empty()) {
        Frame closed = std::move(frames_.back());
        frames_.pop_back();
        attach_value(closed.item, Kind::Other, {});
    } else if (tag == Tag::Member) {
        if (!names_.empty()) {
            names_.pop_back();
        }
    } else if (tag == Tag::Name) {
        if (names_.size() < kMaxNames) {
            Name& pushed = names_.emplace_back();
            text_.trimmed_key(pushed.key);
            pushed.is_key = text_.fits() && text_.trimmed() == key_member_;
        } else {
            too_many_names_ = true;
        }
    } else if (tag == Tag::MethodName) {
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
