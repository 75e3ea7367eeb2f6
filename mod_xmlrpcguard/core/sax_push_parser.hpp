// libxml2's push parser, set up the way PHP's ext/xml sets it up for xml_parse() (the
// parser WordPress's IXR_Message uses, on the same libxml2), so that what it accepts,
// refuses and reports is what PHP's does:
//  * old-style SAX (XML_PARSE_OLDSAX, the SAX1 element callbacks): no namespace
//    processing, "p:methodName" is an element of that name;
//  * entities are resolved by a getEntity callback that knows only the five
//    predefined ones, whose text it hands on itself; nothing else is ever expanded;
//  * a parse fails when xmlParseChunk() reports an error (see parse()).
// On top of PHP's: a DOCTYPE ends the parse (WordPress strips the only one it lets
// through, so none reaches here from a request), nothing is loaded from the network
// or the disk, errors are never printed (in httpd stderr is the error log), and byte
// and depth caps end a scan with a verdict. Internal to the core: the scanners are
// its only users.
#pragma once

#include <libxml/parser.h>

#include <cstddef>
#include <span>
#include <string_view>

#include "xmlrpcguard/xmlrpc_scanner.hpp"

namespace xmlrpcguard::detail {

// What a scanner hears of a document, as PHP's xml_parse() hands it to IXR: element
// names as written (with any prefix), and text in pieces.
class SaxListener {
  public:
    virtual void on_open(std::string_view name) = 0;
    virtual void on_close(std::string_view name) = 0;
    virtual void on_text(std::string_view text) = 0;

  protected:
    ~SaxListener() = default;
};

class SaxPushParser {
  public:
    SaxPushParser(SaxListener& listener, ScanLimits limits) noexcept;
    ~SaxPushParser();
    SaxPushParser(const SaxPushParser&) = delete;
    SaxPushParser& operator=(const SaxPushParser&) = delete;

    // Parses the bytes up to the byte cap; later bytes are only counted.
    void feed(std::span<const char> bytes);
    // The end of the body. Incomplete turns into Complete or Malformed.
    void finish();
    // Ready for the next document; keeps the libxml2 context.
    void reset() noexcept;

    // Ends the parse early (called by the listener from inside a callback).
    void stop(ScanStatus verdict) noexcept;

    ScanStatus status() const noexcept { return status_; }
    const ScanLimits& limits() const noexcept { return limits_; }

  private:
    static void start_element(void* self, const xmlChar* name, const xmlChar** attributes) noexcept;
    static void end_element(void* self, const xmlChar* name) noexcept;
    static void characters(void* self, const xmlChar* text, int length) noexcept;
    static xmlEntityPtr get_entity(void* self, const xmlChar* name) noexcept;
    static void on_error(void* self, const char* message, ...) noexcept;
    static void doctype(void* self, const xmlChar* name, const xmlChar* external_id,
                        const xmlChar* system_id) noexcept;

    void parse(const char* bytes, std::size_t length, bool terminate) noexcept;
    void configure_as_php() noexcept;
    void open(std::string_view name) noexcept;
    void close(std::string_view name) noexcept;

    SaxListener& listener_;
    ScanLimits limits_;
    xmlParserCtxtPtr context_ = nullptr;
    bool context_used_ = false;  // it has read or been stopped since made or reset
    std::size_t bytes_seen_ = 0;
    unsigned depth_ = 0;
    ScanStatus status_ = ScanStatus::Incomplete;
};

}  // namespace xmlrpcguard::detail
