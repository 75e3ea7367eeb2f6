// The request's parser: canonical XML-RPC is read without libxml2, anything else by
// libxml2 from its first byte. A body is canonical when, after WordPress's
// pre-processing (IxrPreamble), it is
//  * at most ScanLimits::canonical_bytes long (and within max_bytes), all of it ASCII;
//  * one root element and nothing around it but " \t\n";
//  * elements only: `<name>`, `<name/>` and `</name>`, white space (" \t\n") allowed
//    before the '>', names [A-Za-z_][A-Za-z0-9._-]* of at most kMaxName bytes, nested
//    at most kMaxDepth (and max_depth) deep, every end tag naming its element;
//  * text of printable ASCII, tab and newline, without '&', '<', '>' or ']' (so no
//    entity, CDATA end or carriage return: the places where libxml2 translates);
//  * no attribute, comment, CDATA section, processing instruction or declaration.
// For such a body the events are those SaxPushParser reports (PHP's ext/xml in its
// SAX1 setup on libxml2 2.9.14): each element opened and closed by its name, and
// each text between two tags inside the root as one piece (libxml2 may cut it into
// several; the reader joins them). The body is held (it is small) and judged at
// finish(); nothing reaches the listener before then. Whatever falls outside that
// grammar, at any byte (a body too long, a stop(), a byte outside the alphabet, a
// document cut short), goes to libxml2 from its first byte: the held bytes are
// replayed and the rest follows, so libxml2 stays the judge of every body the
// recogniser does not fully understand. tests/fuzz/fuzz_recogniser.cpp holds the two
// paths to the same scan results. Internal to the core: the request scanner is its
// only user.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sax_push_parser.hpp"
#include "xmlrpcguard/xmlrpc_scanner.hpp"

namespace xmlrpcguard::detail {

class CanonicalPushParser {
  public:
    static constexpr std::size_t kMaxName = 64;
    static constexpr unsigned kMaxDepth = 32;

    CanonicalPushParser(SaxListener& listener, ScanLimits limits) noexcept;

    // The interface of SaxPushParser.
    void feed(std::span<const char> bytes);
    // feed(bytes) as the first bytes of a body, without the copy: the buffers are
    // swapped (bytes gets the one held before, emptied, its memory kept).
    void adopt(std::string& bytes);
    void finish();
    void reset() noexcept;
    void stop(ScanStatus verdict) noexcept;
    ScanStatus status() const noexcept;
    const ScanLimits& limits() const noexcept { return libxml2_.limits(); }
    // Bytes held at most: a longer body goes to libxml2 as it comes.
    std::size_t budget() const noexcept { return budget_; }

    // libxml2 read (or is reading) this body.
    bool fell_back() const noexcept { return mode_ == Mode::Libxml2; }

  private:
    enum class Mode : unsigned char { Holding, Emitting, Done, Libxml2 };

    // An event found in the held body, reported once the whole body is known to be
    // canonical.
    struct Event {
        enum class Kind : std::uint8_t { Open, Close, Text };
        Kind kind;
        std::uint32_t offset;
        std::uint32_t length;
    };

    void fall_back(std::span<const char> rest);
    bool read();
    void emit() noexcept;
    void grow_events();

    SaxListener& listener_;
    SaxPushParser libxml2_;
    std::size_t budget_;  // bytes held at most
    unsigned max_depth_;
    std::string held_;
    // The events found, written without a vector's checks; kept from body to body.
    std::unique_ptr<Event[]> events_;
    std::size_t events_capacity_ = 0;
    std::size_t events_size_ = 0;
    Mode mode_ = Mode::Holding;
    ScanStatus status_ = ScanStatus::Incomplete;
};

}  // namespace xmlrpcguard::detail
