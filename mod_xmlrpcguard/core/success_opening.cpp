#include "success_opening.hpp"

#include <algorithm>
#include <cstring>
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
    while (verdict_ == Verdict::Undecided && read < bytes.size()) {
        std::string_view piece = kPieces[piece_];
        // White space is allowed between the tags, not before the declaration.
        bool space = at_ == 0 && piece_ > 0 && is_xml_space(bytes[read]);
        // Else as much of the current tag as these bytes hold, compared at once.
        std::size_t run = space ? 1 : std::min(piece.size() - at_, bytes.size() - read);
        if (held_size_ + run > kMaxHeld ||
            (!space && std::memcmp(bytes.data() + read, piece.data() + at_, run) != 0)) {
            verdict_ = Verdict::Strayed;  // what this run held goes to the parser with the rest
            break;
        }
        std::memcpy(held_.data() + held_size_, bytes.data() + read, run);
        held_size_ += run;
        read += run;
        if (!space && (at_ += static_cast<std::uint8_t>(run)) == piece.size()) {
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
