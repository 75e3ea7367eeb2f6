#include "canonical_parser.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <new>

namespace xmlrpcguard::detail {

namespace {

enum CharClass : unsigned char {
    kSpace = 1,      // " \t\n": between tags, before '>', around the root
    kText = 2,       // may stand in text
    kNameStart = 4,  // may begin a name
    kName = 8,       // may stand in a name
};

constexpr std::array<unsigned char, 256> make_classes() {
    std::array<unsigned char, 256> classes{};
    for (int c = 0x20; c < 0x7F; ++c) {
        if (c != '&' && c != '<' && c != '>' && c != ']') {
            classes[c] |= kText;
        }
    }
    for (int c : {' ', '\t', '\n'}) {
        classes[c] |= kSpace | kText;
    }
    for (int c = 'a'; c <= 'z'; ++c) {
        classes[c] |= kNameStart | kName;
        classes[c - 'a' + 'A'] |= kNameStart | kName;
    }
    classes['_'] |= kNameStart | kName;
    for (int c = '0'; c <= '9'; ++c) {
        classes[c] |= kName;
    }
    classes['.'] |= kName;
    classes['-'] |= kName;
    return classes;
}

constexpr std::array<unsigned char, 256> kClasses = make_classes();

bool is(char c, CharClass wanted) noexcept {
    return (kClasses[static_cast<unsigned char>(c)] & wanted) != 0;
}

// The held body ends with the '\0' std::string keeps after its bytes, which is in no
// class: a skip stops there without comparing with the end (a '\0' inside the body
// stops it too, and is outside the grammar wherever it stands).
static_assert(kClasses[0] == 0);

const char* skip(const char* at, CharClass wanted) noexcept {
    while (is(*at, wanted)) {
        ++at;
    }
    return at;
}

// Events kept across bodies at most (a larger body's list is freed at reset()).
constexpr std::size_t kKeptEvents = 256;

}  // namespace

CanonicalPushParser::CanonicalPushParser(SaxListener& listener, ScanLimits limits) noexcept
    : listener_(listener),
      libxml2_(listener, limits),
      budget_(std::min({limits.canonical_bytes, limits.max_bytes, std::size_t{UINT32_MAX}})),
      max_depth_(std::min(kMaxDepth, limits.max_depth)) {}

void CanonicalPushParser::feed(std::span<const char> bytes) {
    switch (mode_) {
        case Mode::Libxml2:
            libxml2_.feed(bytes);
            return;
        case Mode::Holding:
            if (bytes.size() > budget_ - held_.size()) {
                fall_back(bytes);
                return;
            }
            try {
                held_.append(bytes.data(), bytes.size());
            } catch (const std::bad_alloc&) {
                fall_back(bytes);
            }
            return;
        case Mode::Emitting:
        case Mode::Done:
            return;  // after finish(): ignored, as by SaxPushParser
    }
}

void CanonicalPushParser::adopt(std::string& bytes) {
    if (mode_ == Mode::Holding && held_.empty() && bytes.size() <= budget_) {
        held_.swap(bytes);
        bytes.clear();
        return;
    }
    feed(bytes);
}

void CanonicalPushParser::finish() {
    if (mode_ == Mode::Libxml2) {
        libxml2_.finish();
        return;
    }
    if (mode_ != Mode::Holding) {
        return;
    }
    bool canonical = false;
    try {
        canonical = read();
    } catch (const std::bad_alloc&) {
        // Out of memory for the event list: libxml2 reads it.
    }
    if (!canonical) {
        fall_back({});
        libxml2_.finish();
        return;
    }
    mode_ = Mode::Emitting;
    emit();
    mode_ = Mode::Done;
    if (status_ == ScanStatus::Incomplete) {
        status_ = ScanStatus::Complete;
    }
}

// The same steps as SaxPushParser's callbacks: a listener that throws ends the scan
// OverLimit, one that calls stop() ends it with its verdict. The depth cap needs no
// check here: a deeper body went to libxml2.
void CanonicalPushParser::emit() noexcept {
    for (const Event& event : std::span(events_.get(), events_size_)) {
        std::string_view what(held_.data() + event.offset, event.length);
        try {
            switch (event.kind) {
                case Event::Kind::Open:
                    listener_.on_open(what);
                    break;
                case Event::Kind::Close:
                    listener_.on_close(what);
                    break;
                case Event::Kind::Text:
                    listener_.on_text(what);
                    break;
            }
        } catch (...) {
            stop(ScanStatus::OverLimit);
        }
        if (status_ != ScanStatus::Incomplete) {
            return;
        }
    }
}

void CanonicalPushParser::reset() noexcept {
    libxml2_.reset();
    held_.clear();
    if (events_capacity_ > kKeptEvents) {
        events_.reset();
        events_capacity_ = 0;
    }
    events_size_ = 0;
    mode_ = Mode::Holding;
    status_ = ScanStatus::Incomplete;
}

void CanonicalPushParser::stop(ScanStatus verdict) noexcept {
    switch (mode_) {
        case Mode::Holding:
            // What libxml2 would have reported up to here, then the stop.
            fall_back({});
            libxml2_.stop(verdict);
            return;
        case Mode::Libxml2:
            libxml2_.stop(verdict);
            return;
        case Mode::Emitting:
            if (status_ == ScanStatus::Incomplete) {
                status_ = verdict;
            }
            return;
        case Mode::Done:
            return;
    }
}

ScanStatus CanonicalPushParser::status() const noexcept {
    return mode_ == Mode::Libxml2 ? libxml2_.status() : status_;
}

void CanonicalPushParser::fall_back(std::span<const char> rest) {
    mode_ = Mode::Libxml2;
    if (!held_.empty()) {
        libxml2_.feed(held_);
        held_.clear();
    }
    if (!rest.empty()) {
        libxml2_.feed(rest);
    }
}

void CanonicalPushParser::grow_events() {
    std::size_t capacity = std::max<std::size_t>(64, 2 * events_capacity_);
    std::unique_ptr<Event[]> grown(new Event[capacity]);
    std::copy_n(events_.get(), events_size_, grown.get());
    events_ = std::move(grown);
    events_capacity_ = capacity;
}

// The grammar in the header, over the held body, in one pass: true when it is
// canonical, and then events_ holds what to report.
bool CanonicalPushParser::read() {
    const char* const begin = held_.data();
    const char* const end = begin + held_.size();
    const char* at = begin;
    auto note = [&](Event::Kind kind, const char* from, std::size_t length) {
        if (events_size_ == events_capacity_) [[unlikely]] {
            grow_events();
        }
        events_[events_size_++] = {kind, static_cast<std::uint32_t>(from - begin),
                                   static_cast<std::uint32_t>(length)};
    };
    // The open elements' names; left uninitialised (only entries below depth are read).
    struct OpenName {
        const char* data;
        std::size_t size;
    };
    OpenName open[kMaxDepth];
    unsigned depth = 0;
    events_size_ = 0;
    at = skip(at, kSpace);
    if (at == end || *at != '<') {
        return false;
    }
    for (;;) {
        ++at;  // past '<'
        if (at == end) {
            return false;
        }
        if (*at == '/') {
            if (depth == 0) {
                return false;  // an end tag first
            }
            // The name must be the open element's, and end there: its bytes, then
            // one that is no name's.
            const char* name = ++at;
            std::string_view closed(open[depth - 1].data, open[depth - 1].size);
            if (static_cast<std::size_t>(end - at) < closed.size() ||
                std::memcmp(at, closed.data(), closed.size()) != 0) {
                return false;
            }
            at += closed.size();
            if (is(*at, kName)) {
                return false;
            }
            at = skip(at, kSpace);
            if (at == end || *at != '>') {
                return false;
            }
            ++at;
            --depth;
            note(Event::Kind::Close, name, closed.size());
        } else {
            if (!is(*at, kNameStart)) {
                return false;  // '!', '?', or a byte that starts no name we read
            }
            const char* name = at;
            at = skip(at + 1, kName);
            std::string_view opened(name, static_cast<std::size_t>(at - name));
            at = skip(at, kSpace);
            if (at == end || opened.size() > kMaxName || depth == max_depth_) {
                return false;
            }
            bool empty = *at == '/';
            if (empty) {
                ++at;
                if (at == end) {
                    return false;
                }
            }
            if (*at != '>') {
                return false;
            }
            ++at;
            note(Event::Kind::Open, name, opened.size());
            if (empty) {
                note(Event::Kind::Close, name, opened.size());
            } else {
                open[depth++] = {opened.data(), opened.size()};
            }
        }
        if (depth == 0) {
            break;
        }
        const char* text = at;
        at = skip(at, kText);
        if (at == end || *at != '<') {
            return false;
        }
        if (at != text) {
            note(Event::Kind::Text, text, static_cast<std::size_t>(at - text));
        }
    }
    return skip(at, kSpace) == end;
}

}  // namespace xmlrpcguard::detail
