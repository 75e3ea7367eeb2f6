// The user names of a request's authenticating calls, read from the same element
// events as XmlRpcReader and with IXR's rules (see xmlrpc_reader.hpp), beside it:
//  * a call's arguments are its parameters, or, when there is exactly one and it
//    is an array or struct, that one's elements (IXR_Server::call's count($args) == 1);
//    a struct's members "0".."3" are PHP's integer keys 0..3;
//  * the user name is args[auth_user_position(method)] when that is a scalar;
//  * a multicall call is a struct with `methodName` and `params` (the last of each
//    wins), an element of params[0] or a parameter itself.
// Candidates are reported as soon as they are known (a call's struct closes, a
// parameter closes after the method name, or the method name closes after the
// parameters), so a check can stop the body before its end; a candidate may be one
// that WordPress will not use (e.g. a name given twice), never the other way round.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sax_push_parser.hpp"
#include "xmlrpc_reader.hpp"

namespace xmlrpcguard::detail {

class AuthNameReader final : public SaxListener {
  public:
    static constexpr std::size_t kMaxCandidates = 8192;
    static constexpr std::size_t kMaxCalls = 4096;
    static constexpr std::size_t kSlots = 3;  // user name positions: 0, 1 or 2

    // The text since the last tag is the XmlRpcReader's, read before it clears it:
    // on_close() runs before the reader's own.
    explicit AuthNameReader(const TagText& text) noexcept : text_(text) {}

    void on_open(std::string_view name) override { open(tag_of(name)); }
    void on_close(std::string_view name) override { close(tag_of(name)); }
    void on_text(std::string_view) override {}
    // The same, for a listener that classified the name already.
    void open(Tag tag);
    void close(Tag tag);
    void clear();

    // The single call's user name (empty: none), given the final method name.
    std::string single_user(std::string_view method) const;
    // One entry per multicall call WordPress runs, "" for a call without a user name.
    const std::vector<std::string>& call_users() const noexcept;
    std::vector<std::string>& candidates() noexcept { return candidates_; }

  private:
    struct Slot {
        bool present = false;
        std::string text;
    };
    struct Args {
        std::array<Slot, kSlots> at;
        std::array<Slot, kSlots> inner;  // the elements of element 0, when it is a container
        std::size_t count = 0;
        bool first_container = false;
        // IXR_Server::call: one parameter is the argument list when it is an array;
        // a lone scalar fails WordPress's count($args) before any password check.
        const std::array<Slot, kSlots>& effective() const noexcept {
            static const std::array<Slot, kSlots> kNone{};
            return count != 1 ? at : first_container ? inner : kNone;
        }
    };
    struct Frame {
        bool is_struct = false;
        bool is_call = false;      // may be a multicall call
        bool holds_calls = false;  // params[0]: its elements may be calls
        Args args;
        std::string call_method;
        Args call_params;
    };
    struct Value {
        bool scalar = true;
        std::string_view text;
        const Frame* frame = nullptr;  // a closed array or struct (scalar false)
        bool named = true;             // a scalar that can be a name (string, int)
    };

    void attach(const Value& value);
    static void put(Args& args, int index, const Value& value);
    void emit_top_level();
    void emit(const Slot& slot);
    std::string_view key() const noexcept;

    const TagText& text_;
    std::vector<Frame> frames_;
    struct Name {
        std::string text;  // at most 17 bytes: what is compared with "params", "0"...
        std::string key;   // TagText::trimmed_key(): names told apart by their text
    };
    std::vector<Name> names_;
    std::unordered_map<std::string, std::size_t> first_keys_;  // a struct params[0]
    Args top_;
    bool top_touched_ = false;  // top_'s slots were written since the last clear()
    std::string method_;
    int method_position_ = -1;              // auth_user_position(method_)
    std::vector<std::string> calls_top_;    // when the calls are the parameters
    std::vector<std::string> calls_first_;  // when they are params[0]'s elements
    std::vector<std::string> candidates_;
    std::string scratch_;
};

}  // namespace xmlrpcguard::detail
