// libxml2's SAX2 push parser, set up once for hostile input: no entity is ever
// expanded beyond the five predefined ones, a DOCTYPE ends the parse, nothing is
// loaded from the network or the disk, errors are never printed (in httpd stderr is
// the error log), and byte and depth caps end a scan with a verdict. Internal to the
// core: the scanners are its only users.
#pragma once

#include <libxml/parser.h>

#include <cstddef>
#include <span>
#include <string_view>

#include "xmlrpcguard/xmlrpc_scanner.hpp"

namespace xmlrpcguard::detail {

// What a scanner hears of a document. Element names are local names without a
// prefix; an element with a namespace prefix arrives with an empty name (WordPress's
// non-namespace-aware parser sees "p:methodName", which is no XML-RPC element).
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
    static void start_element(void* self, const xmlChar* localname, const xmlChar* prefix,
                              const xmlChar* uri, int namespaces_count, const xmlChar** namespaces,
                              int attributes_count, int defaulted_count,
                              const xmlChar** attributes) noexcept;
    static void end_element(void* self, const xmlChar* localname, const xmlChar* prefix,
                            const xmlChar* uri) noexcept;
    static void characters(void* self, const xmlChar* text, int length) noexcept;
    static void doctype(void* self, const xmlChar* name, const xmlChar* external_id,
                        const xmlChar* system_id) noexcept;

    void parse(const char* bytes, std::size_t length, bool terminate) noexcept;

    SaxListener& listener_;
    ScanLimits limits_;
    xmlParserCtxtPtr context_ = nullptr;
    bool context_used_ = false;  // it has read or been stopped since made or reset
    std::size_t bytes_seen_ = 0;
    unsigned depth_ = 0;
    ScanStatus status_ = ScanStatus::Incomplete;
};

}  // namespace xmlrpcguard::detail
