#include "success_opening.hpp"

#include <string_view>

namespace xmlrpcguard::detail {

namespace {

// IXR_Server::output() writes the declaration with the blog's charset; UTF-8 is
// WordPress's default and all but universal. Any other goes to libxml2.
constexpr std::string_view kPieces[] = {
    R"(<?xml version="1.0" encoding="UTF-8"?>)",
    "<methodResponse>",
    "<params>",
};
constexpr std::uint8_t kPieceCount = std::size(kPieces);

constexpr bool is_xml_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

std::size_t SuccessOpening::read(std::span<const char> bytes) noexcept {
    std::size_t read = 0;
    for (char c : bytes) {
        if (verdict_ != Verdict::Undecided) {
            break;
        }
        // White space is allowed between the tags, not before the declaration.
        bool fits = (at_ == 0 && piece_ > 0 && is_xml_space(c)) || c == kPieces[piece_][at_];
        if (!fits || held_size_ == kMaxHeld) {
            verdict_ = Verdict::Strayed;
            break;
        }
        held_[held_size_++] = c;
        ++read;
        if (c == kPieces[piece_][at_] && ++at_ == kPieces[piece_].size()) {
            at_ = 0;
            if (++piece_ == kPieceCount) {
                verdict_ = Verdict::Success;
            }
        }
    }
    return read;
}

void SuccessOpening::reset() noexcept {
    verdict_ = Verdict::Undecided;
    piece_ = 0;
    at_ = 0;
    held_size_ = 0;
}

}  // namespace xmlrpcguard::detail
