#include "sax_push_parser.hpp"

#include <libxml/xmlerror.h>

#include <algorithm>
#include <climits>
#include <new>

namespace xmlrpcguard::detail {

namespace {

// No DTD loading, no network, no entity substitution (XML_PARSE_NOENT stays off), and
// no error text: errors only end the scan. The encoding a body declares is ignored:
// WordPress's PHP parser reads only UTF-8, US-ASCII and ISO-8859-1, all of which spell
// XML-RPC's element names and numbers the same, and letting a hostile declaration
// send the bytes through iconv made the verdict depend on where the body was split.
constexpr int kParseOptions =
    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC;

void ignore_error(void*, xmlErrorPtr) noexcept {}

// libxml2 must be initialised once before threads use it; the module's other users of
// libxml2 in the same process (mod_php, mod_proxy_html) do the same, which is harmless.
void init_libxml2_once() {
    static const bool initialised = [] {
        xmlInitParser();
        return true;
    }();
    (void)initialised;
}

std::string_view view(const xmlChar* text) {
    return text ? std::string_view(reinterpret_cast<const char*>(text)) : std::string_view();
}

}  // namespace

SaxPushParser::SaxPushParser(SaxListener& listener, ScanLimits limits) noexcept
    : listener_(listener), limits_(limits) {
    init_libxml2_once();
}

SaxPushParser::~SaxPushParser() {
    if (context_) {
        xmlFreeParserCtxt(context_);
    }
}

void SaxPushParser::feed(std::span<const char> bytes) {
    std::size_t room = limits_.max_bytes - std::min(bytes_seen_, limits_.max_bytes);
    bytes_seen_ += bytes.size();
    if (status_ != ScanStatus::Incomplete) {
        return;
    }
    std::size_t parsed = std::min(bytes.size(), room);
    if (parsed > 0) {
        parse(bytes.data(), parsed, false);
    }
    if (parsed < bytes.size() && status_ == ScanStatus::Incomplete) {
        stop(ScanStatus::OverLimit);
    }
}

void SaxPushParser::finish() {
    if (status_ != ScanStatus::Incomplete) {
        return;
    }
    parse(nullptr, 0, true);
    if (status_ == ScanStatus::Incomplete) {
        status_ = ScanStatus::Complete;
    }
}

void SaxPushParser::reset() noexcept {
    bytes_seen_ = 0;
    depth_ = 0;
    status_ = ScanStatus::Incomplete;
    if (!context_ || !context_used_) {
        return;  // nothing to forget: resetting a context costs about as much as using it
    }
    context_used_ = false;
    if (xmlCtxtResetPush(context_, nullptr, 0, nullptr, nullptr) == 0) {
        xmlCtxtUseOptions(context_, kParseOptions);
        return;
    }
    xmlFreeParserCtxt(context_);
    context_ = nullptr;
}

void SaxPushParser::stop(ScanStatus verdict) noexcept {
    if (status_ == ScanStatus::Incomplete) {
        status_ = verdict;
    }
    if (context_) {
        xmlStopParser(context_);
        context_used_ = true;  // a stopped context needs its reset too
    }
}

void SaxPushParser::parse(const char* bytes, std::size_t length, bool terminate) noexcept {
    if (!context_) {
        // Only what the scanners need: no startDocument, so no tree is ever built.
        xmlSAXHandler handler{};
        handler.initialized = XML_SAX2_MAGIC;
        handler.startElementNs = &start_element;
        handler.endElementNs = &end_element;
        handler.characters = &characters;
        handler.cdataBlock = &characters;
        handler.internalSubset = &doctype;
        handler.externalSubset = &doctype;
        handler.serror = &ignore_error;
        context_ = xmlCreatePushParserCtxt(&handler, this, nullptr, 0, nullptr);
        if (!context_) {
            status_ = ScanStatus::OverLimit;  // out of memory: not scanned
            return;
        }
        xmlCtxtUseOptions(context_, kParseOptions);
    }
    context_used_ = true;
    // xmlParseChunk takes an int; max_bytes may be configured above INT_MAX.
    do {
        int piece = static_cast<int>(std::min<std::size_t>(length, INT_MAX / 2));
        bool last = terminate && static_cast<std::size_t>(piece) == length;
        xmlParseChunk(context_, bytes, piece, last ? 1 : 0);
        if (status_ != ScanStatus::Incomplete) {
            return;  // our own verdict (cap, DOCTYPE) wins over libxml2's stop error
        }
        if (!context_->wellFormed) {
            status_ = ScanStatus::Malformed;
            return;
        }
        bytes += piece;
        length -= static_cast<std::size_t>(piece);
    } while (length > 0);
}

void SaxPushParser::start_element(void* self, const xmlChar* localname, const xmlChar* prefix,
                                  const xmlChar*, int, const xmlChar**, int, int,
                                  const xmlChar**) noexcept {
    auto& parser = *static_cast<SaxPushParser*>(self);
    if (parser.status_ != ScanStatus::Incomplete) {
        return;
    }
    if (++parser.depth_ > parser.limits_.max_depth) {
        parser.stop(ScanStatus::Malformed);
        return;
    }
    try {
        parser.listener_.on_open(prefix ? std::string_view() : view(localname));
    } catch (...) {  // out of memory in a listener: this body goes unscanned
        parser.stop(ScanStatus::OverLimit);
    }
}

void SaxPushParser::end_element(void* self, const xmlChar* localname, const xmlChar* prefix,
                                const xmlChar*) noexcept {
    auto& parser = *static_cast<SaxPushParser*>(self);
    if (parser.status_ != ScanStatus::Incomplete) {
        return;
    }
    --parser.depth_;
    try {
        parser.listener_.on_close(prefix ? std::string_view() : view(localname));
    } catch (...) {
        parser.stop(ScanStatus::OverLimit);
    }
}

void SaxPushParser::characters(void* self, const xmlChar* text, int length) noexcept {
    auto& parser = *static_cast<SaxPushParser*>(self);
    if (parser.status_ != ScanStatus::Incomplete || length <= 0) {
        return;
    }
    try {
        parser.listener_.on_text(std::string_view(reinterpret_cast<const char*>(text),
                                                  static_cast<std::size_t>(length)));
    } catch (...) {
        parser.stop(ScanStatus::OverLimit);
    }
}

// XML-RPC has no DTD; one in a request can only be an entity-expansion attack.
void SaxPushParser::doctype(void* self, const xmlChar*, const xmlChar*, const xmlChar*) noexcept {
    static_cast<SaxPushParser*>(self)->stop(ScanStatus::Malformed);
}

}  // namespace xmlrpcguard::detail
