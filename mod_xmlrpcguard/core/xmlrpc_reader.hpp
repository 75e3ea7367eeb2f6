// Reads an XML-RPC document the way WordPress's own parser (IXR_Message) does, so
// that what we judge is what WordPress executes. IXR is forgiving in ways an attacker
// can use to hide a call from a stricter reader, and this follows it:
//  * the method is the trimmed text of the LAST <methodName> element anywhere;
//  * the parameters are the values closed outside any array or struct, wherever
//    they are (<params>/<param> are not required);
//  * system.multicall gets params[0] when there is exactly one parameter, and the
//    whole parameter list when there are several: both are call lists;
//  * a value's text is what came since the last tag, <value>text</value> is a
//    string, <base64> is decoded, struct members with the same name overwrite.
// Internal to the core: the two scanners are its users.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sax_push_parser.hpp"

namespace xmlrpcguard::detail {

// Text since the last tag, kept bounded: leading whitespace is dropped (and
// remembered), and only the first kCap bytes after it are kept.
class TagText {
  public:
    static constexpr std::size_t kCap = 256;

    void clear() noexcept;
    void append(std::string_view text);
    // PHP's trim(): both ends, " \t\n\r\0\x0B".
    std::string_view trimmed() const noexcept;
    bool blank() const noexcept { return kept_.empty(); }
    bool had_leading_space() const noexcept { return dropped_leading_; }
    std::string_view kept() const noexcept { return kept_; }

  private:
    std::string kept_;
    bool dropped_leading_ = false;
};

// One element of a call list (or a top-level value): whether it is a struct, and the
// value of its member named by the reader's key ("methodName" in a request,
// "faultCode" in an answer).
struct ListItem {
    enum class KeyKind : std::uint8_t { None, String, Int, Other };
    bool is_struct = false;
    KeyKind key_kind = KeyKind::None;
    std::string key_text;  // String: as WordPress would compare it; Int: trimmed digits
};

enum class ItemList : std::uint8_t {
    TopLevelValues,      // every parameter, in order
    FirstValueElements,  // the elements of params[0] when it is an array
};

class XmlRpcReader : public SaxListener {
  public:
    explicit XmlRpcReader(std::string_view key_member) noexcept : key_member_(key_member) {}

    void on_open(std::string_view name) override;
    void on_close(std::string_view name) override;
    void on_text(std::string_view text) override;

    // Back to the state before the first byte (frames keep their capacity).
    void clear() noexcept;

    std::string_view root() const noexcept { return root_; }
    // The last of <methodCall>/<methodResponse>/<fault> opened: IXR's message type.
    std::string_view message_type() const noexcept { return message_type_; }
    // Trimmed, at most RequestScan::kMaxMethodName bytes.
    const std::string& method_name() const noexcept { return method_name_; }
    std::size_t top_level_values() const noexcept { return top_level_values_; }

  protected:
    ~XmlRpcReader() = default;
    // Each finished element of a list, in document order.
    virtual void on_item(ItemList list, const ListItem& item) = 0;

  private:
    struct Frame {
        bool is_struct = false;
        bool is_first_array = false;  // params[0] being built, an array
        bool is_item = false;         // an element of a list: its key member is captured
        bool member_is_key = false;   // the current member's name is the key
        ListItem item;
    };

    void attach(ListItem::KeyKind kind, std::string_view text);
    void attach_value(const ListItem& value_as_item, ListItem::KeyKind kind, std::string_view text);

    std::string_view key_member_;
    TagText text_;
    std::vector<Frame> frames_;  // open <data> and <struct> elements, innermost last
    std::string root_;
    std::string message_type_;
    std::string method_name_;
    std::size_t top_level_values_ = 0;
    std::string decoded_;  // scratch for <base64>
};

}  // namespace xmlrpcguard::detail
