// Reads an XML-RPC document the way WordPress's own parser does (IXR_Message in the
// WordPress 6.1 that Debian 12 ships: tag_open / cdata / tag_close), so that what we
// judge is what WordPress executes. IXR is forgiving in ways an attacker can use to
// hide a call from a stricter reader, and this follows it step by step:
//  * a value's text is what came since the last tag; <string>, <int>, <name> and
//    <methodName> are trimmed, an untyped <value> keeps its text exactly (its leading
//    white space too, byte for byte) and counts only when that text is not blank,
//    <base64> is decoded leniently; text between a typed value's end and </value>
//    is a second value put where the typed one went (a struct member: it wins);
//  * <data> and <struct> open containers (arrays); a finished value goes into the
//    innermost one, or becomes a parameter when none is open (<params> and <param>
//    are not needed);
//  * struct members are keyed by the top of ONE stack of names: <name> pushes on it,
//    </member> pops it, wherever they stand; a struct keeps each key at its first
//    place with its last value;
//  * the method is the last <methodName>; the message type the last of
//    <methodCall>/<methodResponse>/<fault> opened;
//  * system.multicall runs params[0] when it is the only parameter, else every
//    parameter; params[0] may be an array or a struct (its values are the calls).
// Internal to the core: the two scanners are its users.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sax_push_parser.hpp"

namespace xmlrpcguard::detail {

// PHP's base64_decode() without $strict, as IXR decodes a <base64>.
void decode_base64(std::string_view text, std::string& out);

// The element names the readers act on, told apart once per event (tag_of) rather
// than by each reader's chain of comparisons. A name is exactly the tag's text, or
// Other.
enum class Tag : std::uint8_t {
    Other,
    MethodCall,
    MethodResponse,
    Fault,
    MethodName,
    Data,
    Struct,
    Member,
    Name,
    Value,
    Int,
    I4,
    String,
    Base64,
    Double,
    Boolean,
    DateTime,  // dateTime.iso8601
};
Tag tag_of(std::string_view name) noexcept;

// Text since the last tag, kept bounded: leading white space is set apart (its first
// kLeadCap bytes kept as they came), the first kCap bytes after it are kept, and of
// the rest only a hash and whether any of it is not white space, so that trim() of
// the whole text can be compared and told apart without holding it, and the start of
// the exact text given back.
class TagText {
  public:
    static constexpr std::size_t kCap = 256;
    static constexpr std::size_t kLeadCap = 128;
    static constexpr std::uint64_t kOffsetBasis = 14695981039346656037ULL;  // FNV-1a

    // Cheap when nothing was appended since the last clear (most tags).
    void clear() noexcept {
        if (touched_) {
            clear_all();
        }
    }
    void append(std::string_view text);
    // PHP's trim(): both ends, " \t\n\r\0\x0B". When fits() is false the trimmed text
    // is longer than kCap and this is its first kCap bytes.
    std::string_view trimmed() const noexcept;
    bool fits() const noexcept { return overflow_length_ == 0; }
    bool blank() const noexcept { return kept_.empty(); }
    bool had_leading_space() const noexcept { return !leading_.empty(); }
    // The first `bytes` (at most kLeadCap) bytes of the text exactly as it came;
    // `scratch` holds them when the text began with white space.
    std::string_view exact(std::size_t bytes, std::string& scratch) const;
    // Past the cap stood a byte of the base64 alphabet.
    bool overflow_has_base64() const noexcept { return overflow_base64_; }
    std::string_view kept() const noexcept { return kept_; }
    // Equal for equal trimmed texts, whatever their length.
    std::uint64_t trimmed_identity() const noexcept;
    // The trimmed text itself when it fits, so that no two texts that fit share a key
    // (a hash alone can be made to collide: two struct keys read as one); a longer
    // text gets its kept bytes and its identity, longer than any text that fits.
    void trimmed_key(std::string& out) const;

  private:
    void clear_all() noexcept;

    bool touched_ = false;  // append() ran since the last clear
    std::string kept_;
    std::string leading_;  // the white space before kept_, at most kLeadCap bytes
    std::uint64_t overflow_hash_ = kOffsetBasis;  // of the bytes past kCap, to the last non-space
    std::uint64_t overflow_running_ = kOffsetBasis;
    std::size_t overflow_length_ = 0;  // likewise
    std::size_t overflow_seen_ = 0;
    bool overflow_base64_ = false;
};

// One element of a call list (or a parameter): whether it is a struct, and the value
// of its member named by the reader's key ("methodName" in a request, "faultCode" in
// an answer).
struct ListItem {
    enum class KeyKind : std::uint8_t { None, String, Int, Other };
    bool is_struct = false;
    KeyKind key_kind = KeyKind::None;
    std::string key_text;  // String: as WordPress would compare it; Int: trimmed digits
};

enum class ItemList : std::uint8_t {
    TopLevelValues,      // every parameter, in order
    FirstValueElements,  // the elements of params[0], an array or a struct
};

class XmlRpcReader : public SaxListener {
  public:
    // Names deeper than this cannot be in a body WordPress parses (each takes two
    // '<' of the 60000 its element limit allows).
    static constexpr std::size_t kMaxNames = 30000;

    explicit XmlRpcReader(std::string_view key_member) noexcept : key_member_(key_member) {}

    void on_open(std::string_view name) override { open(name, tag_of(name)); }
    void on_close(std::string_view name) override { close(name, tag_of(name)); }
    void on_text(std::string_view text) override;
    // The same, for a listener that classified the name already.
    void open(std::string_view name, Tag tag);
    void close(std::string_view name, Tag tag);

    // Back to the state before the first byte (containers keep their capacity).
    void clear() noexcept;

    std::string_view root() const noexcept { return root_; }
    // The last of <methodCall>/<methodResponse>/<fault> opened: IXR's message type.
    std::string_view message_type() const noexcept { return message_type_; }
    // Trimmed, at most RequestScan::kMaxMethodName bytes.
    const std::string& method_name() const noexcept { return method_name_; }
    std::size_t top_level_values() const noexcept { return top_level_values_; }
    // More names were pushed than a body WordPress parses can hold.
    bool too_many_names() const noexcept { return too_many_names_; }
    // The text since the last tag (cleared at each tag, after on_close's work).
    const TagText& text() const noexcept { return text_; }

  protected:
    ~XmlRpcReader() = default;
    // Each value that becomes an element of a list, in document order. An index
    // below the number of elements reported so far replaces that element (a struct's
    // key given a new value keeps its place).
    virtual void on_item(ItemList list, std::size_t index, const ListItem& item) = 0;

  private:
    struct Frame {
        bool is_struct = false;
        bool is_item = false;      // an element of a list: its key member is captured
        bool holds_calls = false;  // params[0]: what goes into it are list elements
        ListItem item;
    };
    struct Name {
        std::string key;  // TagText::trimmed_key()
        bool is_key = false;
    };

    void attach(ListItem::KeyKind kind, std::string_view text);
    void attach_value(const ListItem& value, ListItem::KeyKind kind, std::string_view text);
    std::size_t place_in_first_value(Frame& container);
    std::string_view trimmed_text() const;

    std::string_view key_member_;
    TagText text_;
    std::vector<Frame> frames_;  // open <data> and <struct> elements, innermost last
    std::vector<Name> names_;    // IXR's _currentStructName
    std::unordered_map<std::string, std::size_t> first_value_keys_;  // struct params[0]
    std::size_t first_value_elements_ = 0;
    std::string root_;
    std::string message_type_;
    std::string method_name_;
    std::size_t top_level_values_ = 0;
    bool too_many_names_ = false;
    std::string scratch_;  // decoded <base64>, exact <value> text
};

}  // namespace xmlrpcguard::detail
