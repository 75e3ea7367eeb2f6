#include "xmlrpc_reader.hpp"

#include <algorithm>

namespace xmlrpcguard::detail {

namespace {

constexpr std::size_t kMaxKeyText = RequestScan::kMaxMethodName;
constexpr std::size_t kMaxRootName = 32;

bool is_php_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0' || c == '\x0B';
}

std::string_view at_most(std::string_view text, std::size_t bytes) noexcept {
    return text.substr(0, std::min(text.size(), bytes));
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

// PHP's lenient base64_decode(): characters outside the alphabet are skipped.
void decode_base64(std::string_view text, std::string& out) {
    out.clear();
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (char c : text) {
        if (c == '=') {
            break;
        }
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

}  // namespace

void TagText::clear() noexcept {
    kept_.clear();
    dropped_leading_ = false;
}

void TagText::append(std::string_view text) {
    if (kept_.empty()) {
        std::size_t first = 0;
        while (first < text.size() && is_php_space(text[first])) {
            ++first;
        }
        dropped_leading_ = dropped_leading_ || first > 0;
        text.remove_prefix(first);
    }
    kept_.append(at_most(text, kCap - kept_.size()));
}

std::string_view TagText::trimmed() const noexcept {
    std::string_view text = kept_;
    while (!text.empty() && is_php_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

void XmlRpcReader::clear() noexcept {
    text_.clear();
    frames_.clear();
    root_.clear();
    message_type_.clear();
    method_name_.clear();
    top_level_values_ = 0;
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
        std::size_t depth = frames_.size();
        frame.is_first_array = !frame.is_struct && depth == 0 && top_level_values_ == 0;
        frame.is_item =
            frame.is_struct && (depth == 0 || (depth == 1 && frames_[0].is_first_array));
        frames_.push_back(std::move(frame));
    }
}

void XmlRpcReader::on_close(std::string_view name) {
    using Kind = ListItem::KeyKind;
    if (name == "string" || (name == "value" && !text_.blank())) {
        // A string keeps its spaces: " pingback.ping" is no method WordPress knows, and
        // a leading space we dropped is put back as one so it still is none.
        std::string exact = text_.had_leading_space() ? " " : "";
        exact.append(at_most(text_.kept(), kMaxKeyText - exact.size()));
        attach(Kind::String, exact);
    } else if (name == "int" || name == "i4") {
        attach(Kind::Int, at_most(text_.trimmed(), kMaxKeyText));
    } else if (name == "base64") {
        decode_base64(text_.kept(), decoded_);
        attach(Kind::String, at_most(decoded_, kMaxKeyText));
    } else if (name == "double" || name == "boolean" || name == "dateTime.iso8601") {
        attach(Kind::Other, {});
    } else if ((name == "data" || name == "struct") && !frames_.empty()) {
        Frame closed = std::move(frames_.back());
        frames_.pop_back();
        attach_value(closed.item, Kind::Other, {});
    } else if (name == "name" && !frames_.empty() && frames_.back().is_struct) {
        frames_.back().member_is_key = text_.trimmed() == key_member_;
    } else if (name == "member" && !frames_.empty() && frames_.back().is_struct) {
        frames_.back().member_is_key = false;
    } else if (name == "methodName") {
        method_name_ = at_most(text_.trimmed(), RequestScan::kMaxMethodName);
    }
    text_.clear();
}

void XmlRpcReader::attach(ListItem::KeyKind kind, std::string_view text) {
    static const ListItem scalar;
    attach_value(scalar, kind, text);
}

// Where IXR puts a finished value: a parameter at the top, an element of the array,
// or the struct's member under the current name.
void XmlRpcReader::attach_value(const ListItem& value_as_item, ListItem::KeyKind kind,
                                std::string_view text) {
    if (frames_.empty()) {
        ++top_level_values_;
        on_item(ItemList::TopLevelValues, value_as_item);
        return;
    }
    Frame& container = frames_.back();
    if (container.is_struct) {
        if (container.is_item && container.member_is_key) {
            container.item.key_kind = kind;
            container.item.key_text.assign(text);
        }
    } else if (container.is_first_array) {
        on_item(ItemList::FirstValueElements, value_as_item);
    }
}

}  // namespace xmlrpcguard::detail
