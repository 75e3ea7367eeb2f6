#include "ixr_preamble.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace xmlrpcguard::detail {

namespace {

bool is_php_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0' || c == '\x0B';
}

std::string_view trim_end(std::string_view text) noexcept {
    while (!text.empty() && is_php_space(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

// What preg_replace('/<\?xml.*?\?>/s', '', $window, 1) removes: [start, after), or
// nothing (start == npos).
struct Declaration {
    std::size_t start = std::string_view::npos;
    std::size_t after = 0;
};

Declaration find_declaration(std::string_view text) noexcept {
    std::size_t start = text.find("<?xml");
    if (start == std::string_view::npos) {
        return {};
    }
    std::size_t end = text.find("?>", start + 5);
    if (end == std::string_view::npos) {
        return {};
    }
    return {start, end + 2};
}

std::string_view remove_declaration(char* window, std::size_t size) noexcept {
    Declaration found = find_declaration({window, size});
    if (found.start == std::string_view::npos) {
        return {window, size};
    }
    std::memmove(window + found.start, window + found.after, size - found.after);
    return {window, size - (found.after - found.start)};
}

// preg_replace('/^<!DOCTYPE[^>]*+>/i', '', $window, 1)
std::string_view remove_doctype(std::string_view window) noexcept {
    constexpr std::string_view kDoctype = "<!DOCTYPE";
    if (window.size() < kDoctype.size()) {
        return window;
    }
    for (std::size_t i = 0; i < kDoctype.size(); ++i) {
        char c = window[i];
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
        if (c != kDoctype[i]) {
            return window;
        }
    }
    std::size_t end = window.find('>', kDoctype.size());
    if (end != std::string_view::npos) {
        window.remove_prefix(end + 1);
    }
    return window;
}

// substr($m, 0, strcspn(substr($m, 0, 20), "> \t\r\n")) is one of IXR's three roots.
// (A loop rather than find_first_of, which calls memchr on the set for every byte.)
bool is_root_tag(std::string_view head) noexcept {
    std::size_t length = 0;
    while (length < head.size()) {
        char c = head[length];
        if (c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            break;
        }
        ++length;
    }
    std::string_view tag = head.substr(0, length);
    return tag == "<methodCall" || tag == "<methodResponse" || tag == "<fault";
}

}  // namespace

// The stages of run() on one buffer. A window settles while the body is still being
// fed when the body reaches past it, with the body's end (trimmed) when it does not;
// once one has met the end, every later window is cut from what that one left.
IxrPreamble::Settled IxrPreamble::settle(std::string& body) noexcept {
    char* const data = body.data();
    std::size_t pos = 0;
    std::size_t end = body.size();
    bool at_end = false;
    for (Stage window : {Stage::DeclarationWindow, Stage::DoctypeWindow, Stage::RootWindow}) {
        while (pos < end && is_php_space(data[pos])) {
            ++pos;
        }
        if (pos == end) {
            return {true, pos, pos};  // nothing but white space: trim() left ''
        }
        std::size_t size = window == Stage::DeclarationWindow ? kDeclarationWindow
                           : window == Stage::DoctypeWindow   ? kDoctypeWindow
                                                              : kRootWindow;
        std::size_t remaining = end - pos;
        std::size_t window_end = pos + std::min(size, remaining);
        if (at_end ? remaining <= size : remaining < size) {
            window_end = pos + trim_end({data + pos, remaining}).size();
            end = window_end;
            at_end = true;
        }
        std::string_view head(data + pos, window_end - pos);
        switch (window) {
            case Stage::DeclarationWindow: {
                // The bytes before it move up to it, so that the rest stays in place.
                Declaration found = find_declaration(head);
                if (found.start != std::string_view::npos) {
                    std::size_t cut = found.after - found.start;
                    std::memmove(data + pos + cut, data + pos, found.start);
                    pos += cut;
                }
                break;
            }
            case Stage::DoctypeWindow:
                pos += head.size() - remove_doctype(head).size();
                break;
            default:
                if (!is_root_tag(head)) {
                    return {true, pos, pos};
                }
                break;
        }
    }
    // The body stage: everything up to a '\0' or '\x0B' is passed on; after one, only
    // white space may follow.
    std::size_t length = end - pos;
    if (const void* nul = std::memchr(data + pos, '\0', length)) {
        length = static_cast<std::size_t>(static_cast<const char*>(nul) - (data + pos));
    }
    if (const void* tab = std::memchr(data + pos, '\x0B', length)) {
        length = static_cast<std::size_t>(static_cast<const char*>(tab) - (data + pos));
    }
    Settled settled{false, pos, pos + length};
    if (length < end - pos) {
        char* after = data + pos + length + 1;
        settled.refused = std::find_if_not(after, data + end, is_php_space) != data + end;
    }
    return settled;
}

void IxrPreamble::reset() noexcept {
    stage_ = Stage::TrimBeforeDeclaration;
    verdict_ = Verdict::Reading;
    window_.clear();
    angles_ = 0;
    held_non_xml_ = false;
}

void IxrPreamble::feed(std::span<const char> bytes, ByteSink& sink) {
    run(bytes, sink, false);
}

void IxrPreamble::finish(ByteSink& sink) {
    run({}, sink, true);
    if (verdict_ == Verdict::Reading && stage_ != Stage::Body) {
        refuse();  // nothing but white space (and removed heads): trim() left ''
    }
}

// Takes bytes through the stages; a settled window's bytes go through the next ones.
void IxrPreamble::run(std::span<const char> bytes, ByteSink& sink, bool at_end) {
    while (verdict_ == Verdict::Reading) {
        switch (stage_) {
            case Stage::TrimBeforeDeclaration:
            case Stage::TrimBeforeDoctype:
            case Stage::TrimBeforeRoot: {
                auto text = std::find_if_not(bytes.begin(), bytes.end(), is_php_space);
                bytes = bytes.subspan(static_cast<std::size_t>(text - bytes.begin()));
                if (bytes.empty()) {
                    return;
                }
                stage_ = static_cast<Stage>(static_cast<int>(stage_) + 1);
                break;
            }
            case Stage::DeclarationWindow:
            case Stage::DoctypeWindow:
            case Stage::RootWindow: {
                std::size_t size = stage_ == Stage::DeclarationWindow ? kDeclarationWindow
                                   : stage_ == Stage::DoctypeWindow   ? kDoctypeWindow
                                                                      : kRootWindow;
                bytes = fill_window(bytes, size);
                if (window_.size() < size && !at_end) {
                    return;
                }
                settle_window(sink, at_end && bytes.empty());
                break;
            }
            case Stage::Body:
                pass_body(bytes, sink);
                return;
        }
    }
}

std::span<const char> IxrPreamble::fill_window(std::span<const char> bytes, std::size_t size) {
    std::size_t taken = std::min(bytes.size(), size - std::min(size, window_.size()));
    window_.append(bytes.data(), taken);
    return bytes.subspan(taken);
}

// The window is whole, or the body ended inside it. When nothing follows it, its end
// is the body's, and PHP's trim() has taken the white space there already.
void IxrPreamble::settle_window(ByteSink& sink, bool ends_body) {
    // The window moves to the stack (it is at most kDoctypeWindow bytes) and keeps its
    // buffer for the next one: settling allocates nothing.
    static_assert(kDeclarationWindow <= kDoctypeWindow && kRootWindow <= kDoctypeWindow);
    std::array<char, kDoctypeWindow> buffer;
    std::string_view gathered = window_;
    if (ends_body) {
        gathered = trim_end(gathered);
    }
    std::size_t size = std::min(gathered.size(), buffer.size());
    std::memcpy(buffer.data(), gathered.data(), size);
    window_.clear();
    std::string_view head(buffer.data(), size);
    switch (stage_) {
        case Stage::DeclarationWindow:
            head = remove_declaration(buffer.data(), size);
            stage_ = Stage::TrimBeforeDoctype;
            break;
        case Stage::DoctypeWindow:
            head = remove_doctype(head);
            stage_ = Stage::TrimBeforeRoot;
            break;
        default:
            if (!is_root_tag(head)) {
                refuse();
                return;
            }
            stage_ = Stage::Body;
            break;
    }
    run(head, sink, ends_body);
}

// The bulk of every body passes here: found with memchr and counted in one pass,
// rather than judged a byte at a time.
void IxrPreamble::pass_body(std::span<const char> bytes, ByteSink& sink) {
    while (!bytes.empty()) {
        if (held_non_xml_) {
            if (std::find_if_not(bytes.begin(), bytes.end(), is_php_space) != bytes.end()) {
                refuse();  // a '\0' or '\x0B' inside the document
            }
            return;
        }
        const char* begin = bytes.data();
        std::size_t length = bytes.size();
        if (const void* nul = std::memchr(begin, '\0', length)) {
            length = static_cast<std::size_t>(static_cast<const char*>(nul) - begin);
        }
        if (const void* tab = std::memchr(begin, '\x0B', length)) {
            length = static_cast<std::size_t>(static_cast<const char*>(tab) - begin);
        }
        angles_ += static_cast<std::size_t>(std::count(begin, begin + length, '<'));
        if (angles_ > kMaxAngles) {
            refuse();
            return;
        }
        if (length > 0) {
            sink.take({begin, length});
        }
        if (length == bytes.size()) {
            return;
        }
        held_non_xml_ = true;  // trailing white space, or the document is refused
        bytes = bytes.subspan(length + 1);
    }
}

}  // namespace xmlrpcguard::detail
