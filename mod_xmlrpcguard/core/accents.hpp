// remove_accents() as WordPress 6.1 runs it in sanitize_user() (the en_US locale,
// without PHP's intl extension): a name whose bytes follow UTF-8's pattern (WordPress's
// seems_utf8(), which also takes 5- and 6-byte forms) has each character of a fixed set
// replaced by its base letters; any other name with a byte over 0x7F is read as
// ISO-8859-1 and its accented bytes replaced likewise. Without this a name spelled
// `Ādmin`, or `\xC1dmin` in a <base64>, reaches WordPress's `admin` and not ours.
#pragma once

#include <string>
#include <string_view>

namespace xmlrpcguard::detail {

// WordPress's seems_utf8().
bool seems_utf8(std::string_view text) noexcept;

// WordPress's remove_accents($text) for the en_US locale.
std::string remove_accents(std::string_view text);

}  // namespace xmlrpcguard::detail
