// The opening WordPress writes before the result of a single call that succeeded:
//
//     <?xml version="1.0" encoding="UTF-8"?>  <methodResponse>  <params>
//
// with any XML white space between the three. Comparing it, a tag at a time, costs
// tens of nanoseconds where setting libxml2 to work on the answer costs microseconds,
// and a success is most of what a legitimate client is answered. An answer that
// strays from it in any byte (another charset, a comment, a <fault>, a byte-order
// mark) goes to libxml2 whole, from its first byte, and libxml2 stops at the same
// <params> with the same verdict: which of the two read an answer never shows.
// Internal to the core: the response scanner is its only user.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace xmlrpcguard::detail {

class SuccessOpening {
  public:
    enum class Verdict : std::uint8_t {
        Undecided,  // every byte so far fits; held() has them all
        Success,    // the whole opening, <params> included, has been read
        Strayed,    // a byte did not fit: held() and the rest go to the parser
    };

    // Reads bytes until the verdict falls and returns how many it read: all of them
    // while Undecided, up to the last '>' of <params> on Success, and when Strayed
    // some that fitted, never the first that does not: held() and the bytes from
    // there on are the body so far, unchanged.
    std::size_t read(std::span<const char> bytes) noexcept;
    Verdict verdict() const noexcept { return verdict_; }
    // The bytes read so far (at most kMaxHeld; more white space than that strays).
    std::span<const char> held() const noexcept { return {held_.data(), held_size_}; }
    void reset() noexcept;

    static constexpr std::size_t kMaxHeld = 128;

  private:
    Verdict verdict_ = Verdict::Undecided;
    std::uint8_t piece_ = 0;  // which of the three tags is being read
    std::uint8_t at_ = 0;     // bytes of it read so far
    std::size_t held_size_ = 0;
    std::array<char, kMaxHeld> held_{};
};

}  // namespace xmlrpcguard::detail
