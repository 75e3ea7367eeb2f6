// What WordPress does to a request body before PHP's XML parser sees it, done as the
// body streams past. xmlrpc.php trims the body; IXR_Message::parse() then
//  1. removes the first `<?xml ... ?>` that lies within the first 100 bytes (anywhere
//     in them: `/<\?xml.*?\?>/s` on substr(0, 100)), and trims again;
//  2. removes a `<!DOCTYPE ...>` without a '>' inside from the start of the first 200
//     bytes (`/^<!DOCTYPE[^>]*+>/i`), and trims again;
//  3. refuses the body unless its first 20 bytes, up to the first of "> \t\r\n", are
//     exactly `<methodCall`, `<methodResponse` or `<fault`;
//  4. refuses it when it holds more than 2 x 30000 '<' (xmlrpc_element_limit);
// and hands what is left to xml_parse(). PHP's trim() takes " \t\n\r\0\x0B" from both
// ends. Leading white space is dropped as it comes. Trailing " \t\n\r" may as well
// reach the parser (XML allows it after the root); a '\0' or '\x0B' is held back, and a
// byte after it that is not white space refuses the body: neither is an XML character
// anywhere in a document (XML 1.0, 2.2), so libxml2 would refuse it there too.
// Internal to the core: the request scanner is its only user.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace xmlrpcguard::detail {

// Where the bytes that survive go (the XML parser).
class ByteSink {
  public:
    virtual void take(std::span<const char> bytes) = 0;

  protected:
    ~ByteSink() = default;
};

class IxrPreamble {
  public:
    static constexpr std::size_t kDeclarationWindow = 100;
    static constexpr std::size_t kDoctypeWindow = 200;
    static constexpr std::size_t kRootWindow = 20;
    static constexpr std::size_t kMaxAngles = 2 * 30000;

    enum class Verdict : std::uint8_t {
        Reading,  // the head is not settled yet, or the body is being passed on
        Refused,  // WordPress would not parse this body at all
    };

    // What a whole body, held in one buffer, comes to: the bytes the parser is given
    // are body[from, to), and refused says whether WordPress parses the body at all
    // (when it does not, the parser was given body[from, to) before the refusal, as
    // the streaming pass gives them). Identical to feed(body) followed by finish(), on
    // the buffer itself: a declaration is cut out by moving the (at most 100) bytes
    // before it, nothing else is copied. The body may hold at most kMaxAngles bytes (so
    // the '<' limit cannot be reached). The request scanner uses it for bodies it holds
    // whole anyway (the canonical recogniser's), feed() and finish() for the others.
    struct Settled {
        bool refused = false;
        std::size_t from = 0;
        std::size_t to = 0;
    };
    static Settled settle(std::string& body) noexcept;

    void feed(std::span<const char> bytes, ByteSink& sink);
    // The end of the body: settles a head shorter than its windows.
    void finish(ByteSink& sink);
    void reset() noexcept;

    Verdict verdict() const noexcept { return verdict_; }

  private:
    enum class Stage : std::uint8_t {
        TrimBeforeDeclaration,
        DeclarationWindow,
        TrimBeforeDoctype,
        DoctypeWindow,
        TrimBeforeRoot,
        RootWindow,
        Body,
    };

    void run(std::span<const char> bytes, ByteSink& sink, bool at_end);
    std::span<const char> fill_window(std::span<const char> bytes, std::size_t size);
    void settle_window(ByteSink& sink, bool ends_body);
    void pass_body(std::span<const char> bytes, ByteSink& sink);
    void refuse() noexcept { verdict_ = Verdict::Refused; }

    Stage stage_ = Stage::TrimBeforeDeclaration;
    Verdict verdict_ = Verdict::Reading;
    std::string window_;         // the head bytes being gathered (at most 200)
    std::size_t angles_ = 0;     // '<' passed on
    bool held_non_xml_ = false;  // a '\0' or '\x0B' held back, white space since
};

}  // namespace xmlrpcguard::detail
