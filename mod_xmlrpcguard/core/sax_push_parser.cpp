#include "sax_push_parser.hpp"

#include <libxml/xmlerror.h>

#include <algorithm>
#include <climits>
#include <new>

namespace xmlrpcguard::detail {

namespace {

// PHP's one option (XML_PARSE_OLDSAX), then ours: no network, no error text (errors
// only end the scan), and the encoding a document declares is ignored. WordPress
// strips a request's XML declaration before parsing, so none reaches libxml2 from a
// request; in an answer a hostile declaration sent the bytes through iconv and made
// the verdict depend on where the body was split.
constexpr int kParseOptions = XML_PARSE_OLDSAX | XML_PARSE_NONET | XML_PARSE_NOERROR |
                              XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC;

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
        configure_as_php();
        return;
    }
    xmlFreeParserCtxt(context_);
    context_ = nullptr;
}

void SaxPushParser::stop(ScanStatus verdict) noexcept {
    if (status_ == ScanStatus::Incomplete) {
        // An error libxml2 raised before this point fails the document, as the end of
        // this chunk would report it (see parse()): deciding it here keeps the verdict
        // the same wherever the body was split (the fuzzer found an early success
        // after a bad processing instruction that depended on the split).
        if (verdict == ScanStatus::Complete && context_ && context_->errNo != 0) {
            verdict = ScanStatus::Malformed;
        }
        status_ = verdict;
    }
    if (context_) {
        xmlStopParser(context_);
        context_used_ = true;  // a stopped context needs its reset too
    }
}

// What PHP's XML_ParserCreate_MM() does after creating the context (the entity and
// well-formedness settings are reset by xmlCtxtResetPush, so they are set again).
// wellFormed = 0 makes xmlParseChunk() report any error raised so far, which is what
// xml_parse() judges by.
void SaxPushParser::configure_as_php() noexcept {
    xmlCtxtUseOptions(context_, kParseOptions);
    context_->replaceEntities = 1;
    context_->wellFormed = 0;
    context_->sax->initialized = 1;  // old-style SAX from here on
    // Ours, after the options (which clear them): an error ends the scan where libxml2
    // raises it, not at the end of whatever chunk it came in, so what was gathered does
    // not depend on where the body was split. Nothing is printed.
    context_->sax->error = &on_error;
    context_->sax->fatalError = &on_error;
    context_->sax->warning = &on_error;
}

// libxml2's error channel for old-style SAX. A warning that records no error number
// (xmlWarningMsg) is no failure of xml_parse() and goes on.
void SaxPushParser::on_error(void* self, const char*, ...) noexcept {
    auto& parser = *static_cast<SaxPushParser*>(self);
    if (parser.context_ && parser.context_->errNo != 0) {
        parser.stop(ScanStatus::Malformed);
    }
}

void SaxPushParser::parse(const char* bytes, std::size_t length, bool terminate) noexcept {
    if (!context_) {
        // Only what the scanners need: no startDocument, so no tree is ever built. The
        // handler is a SAX2 one so that xmlCreatePushParserCtxt() copies all of it.
        xmlSAXHandler handler{};
        handler.initialized = XML_SAX2_MAGIC;
        handler.startElement = &start_element;
        handler.endElement = &end_element;
        handler.characters = &characters;
        handler.cdataBlock = &characters;
        handler.getEntity = &get_entity;
        handler.internalSubset = &doctype;
        handler.externalSubset = &doctype;
        context_ = xmlCreatePushParserCtxt(&handler, this, nullptr, 0, nullptr);
        if (!context_) {
            status_ = ScanStatus::OverLimit;  // out of memory: not scanned
            return;
        }
        configure_as_php();
    }
    context_used_ = true;
    // xmlParseChunk takes an int; max_bytes may be configured above INT_MAX.
    do {
        int piece = static_cast<int>(std::min<std::size_t>(length, INT_MAX / 2));
        bool last = terminate && static_cast<std::size_t>(piece) == length;
        int error = xmlParseChunk(context_, bytes, piece, last ? 1 : 0);
        if (status_ != ScanStatus::Incomplete) {
            return;  // our own verdict (cap, DOCTYPE) wins over libxml2's stop error
        }
        // With wellFormed held at 0 xmlParseChunk() returns any error raised so far,
        // whatever level libxml2 last recorded: PHP 8.2 on Debian 12 refuses such a
        // body (bytes that are not UTF-8 in a processing instruction end with a
        // warning-level record; the parity fuzzer found it), and so do we.
        if (error != 0) {
            status_ = ScanStatus::Malformed;  // xml_parse() returns false
            return;
        }
        bytes += piece;
        length -= static_cast<std::size_t>(piece);
    } while (length > 0);
}

void SaxPushParser::start_element(void* self, const xmlChar* name, const xmlChar**) noexcept {
    static_cast<SaxPushParser*>(self)->open(view(name));
}

void SaxPushParser::end_element(void* self, const xmlChar* name) noexcept {
    static_cast<SaxPushParser*>(self)->close(view(name));
}

void SaxPushParser::open(std::string_view name) noexcept {
    if (status_ != ScanStatus::Incomplete) {
        return;
    }
    if (++depth_ > limits_.max_depth) {
        stop(ScanStatus::Malformed);
        return;
    }
    try {
        listener_.on_open(name);
    } catch (...) {  // out of memory in a listener: this body goes unscanned
        stop(ScanStatus::OverLimit);
    }
}

void SaxPushParser::close(std::string_view name) noexcept {
    if (status_ != ScanStatus::Incomplete) {
        return;
    }
    --depth_;
    try {
        listener_.on_close(name);
    } catch (...) {
        stop(ScanStatus::OverLimit);
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

// PHP's getEntity: a predefined entity's text goes to the text handler from here (with
// wellFormed kept at 0 libxml2 does not hand it on again); any other entity is unknown,
// which libxml2 reports as the error that fails the parse. Nothing is ever expanded.
xmlEntityPtr SaxPushParser::get_entity(void* self, const xmlChar* name) noexcept {
    auto& parser = *static_cast<SaxPushParser*>(self);
    xmlParserCtxtPtr context = parser.context_;
    if (!context || context->inSubset != 0) {
        return nullptr;
    }
    xmlEntityPtr entity = xmlGetPredefinedEntity(name);
    if (entity && context->instate != XML_PARSER_ENTITY_VALUE &&
        context->instate != XML_PARSER_ATTRIBUTE_VALUE && entity->content) {
        characters(self, entity->content, xmlStrlen(entity->content));
    }
    return entity;
}

// XML-RPC has no DTD, and WordPress strips the only form it lets through.
void SaxPushParser::doctype(void* self, const xmlChar*, const xmlChar*, const xmlChar*) noexcept {
    static_cast<SaxPushParser*>(self)->stop(ScanStatus::Malformed);
}

}  // namespace xmlrpcguard::detail
