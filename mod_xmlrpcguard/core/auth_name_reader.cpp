#include "auth_name_reader.hpp"

#include <algorithm>
#include <charconv>

#include "xmlrpcguard/user_names.hpp"

namespace xmlrpcguard::detail {

namespace {

constexpr std::size_t kMaxNameText = 16;  // struct member names we compare with

std::string_view at_most(std::string_view text, std::size_t bytes) noexcept {
    return text.substr(0, std::min(text.size(), bytes));
}

// PHP's (int) of an <int>'s trimmed text, printed back as sanitize_user() sees it.
std::string php_int_text(std::string_view text) {
    bool negative = !text.empty() && text.front() == '-';
    if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
        text.remove_prefix(1);
    }
    unsigned long long value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    (void)end;
    constexpr unsigned long long kMax = 9223372036854775807ULL;  // PHP_INT_MAX
    if (error == std::errc::result_out_of_range || value > kMax) {
        return negative ? "-9223372036854775808" : "9223372036854775807";
    }
    std::string out = std::to_string(value);
    return negative && value != 0 ? "-" + out : out;
}

// A text that ran past what TagText keeps: longer than kMaxUserName, so login_fold()
// makes it the one overlong name, and longer than any method's name.
std::string_view overlong_name() {
    static const std::string text(kMaxUserName + 1, '=');
    return text;
}

// Emptied in place: the texts keep their memory for the next body.
template <class Slots>
void clear_slots(Slots& slots) noexcept {
    for (auto& slot : slots) {
        slot.present = false;
        slot.text.clear();
    }
}

int index_of_key(std::string_view key) noexcept {
    if (key.size() == 1 && key[0] >= '0' && key[0] <= '2') {
        return key[0] - '0';
    }
    return -1;
}

}  // namespace

// Only what a body touched: most bodies leave the map and the inner slots alone.
void AuthNameReader::clear() {
    frames_.clear();
    names_.clear();
    if (!first_keys_.empty()) {
        first_keys_.clear();
    }
    if (top_touched_) {
        clear_slots(top_.at);
        clear_slots(top_.inner);
        top_touched_ = false;
    }
    top_.count = 0;
    top_.first_container = false;
    method_.clear();
    method_position_ = -1;
    calls_top_.clear();
    calls_first_.clear();
    candidates_.clear();
}

std::string_view AuthNameReader::key() const noexcept {
    return names_.empty() ? std::string_view() : std::string_view(names_.back().text);
}

void AuthNameReader::open(Tag tag) {
    if (tag == Tag::Data || tag == Tag::Struct) {
        Frame frame;
        frame.is_struct = tag == Tag::Struct;
        frame.is_call = frame.is_struct && frames_.size() <= 1;
        frame.holds_calls = frames_.empty() && top_.count == 0;
        frames_.push_back(std::move(frame));
    }
}

void AuthNameReader::close(Tag tag) {
    if (tag == Tag::Int || tag == Tag::I4) {
        std::string_view trimmed = at_most(text_.trimmed(), kMaxUserName);
        scratch_ = php_int_text(trimmed);
        attach({true, scratch_, nullptr});
    } else if (tag == Tag::String) {
        attach({true, text_.fits() ? text_.trimmed() : overlong_name(), nullptr});
    } else if (tag == Tag::Double || tag == Tag::Boolean || tag == Tag::DateTime) {
        attach({true, {}, nullptr, false});  // a float, bool or date names no account
    } else if (tag == Tag::Value) {
        if (!text_.fits()) {  // longer than any method or name (and not blank)
            attach({true, overlong_name(), nullptr});
        } else if (!text_.blank()) {
            scratch_.assign(text_.had_leading_space() ? " " : "");
            scratch_.append(text_.kept());
            attach({true, scratch_, nullptr});
        }
    } else if (tag == Tag::Base64) {
        if (!text_.fits() && text_.overflow_has_base64()) {  // decodes past the kept text
            attach({true, overlong_name(), nullptr});
        } else {
            decode_base64(text_.kept(), scratch_);
            attach({true, scratch_, nullptr});
        }
    } else if ((tag == Tag::Data || tag == Tag::Struct) && !frames_.empty()) {
        Frame closed = std::move(frames_.back());
        frames_.pop_back();
        if (closed.is_call && !closed.call_method.empty()) {
            int position = auth_user_position(closed.call_method);
            if (position >= 0 && static_cast<std::size_t>(position) < kSlots) {
                emit(closed.call_params.effective()[static_cast<std::size_t>(position)]);
            }
        }
        attach({false, {}, &closed});
    } else if (tag == Tag::Member) {
        if (!names_.empty()) {
            names_.pop_back();
        }
    } else if (tag == Tag::Name) {
        if (names_.size() < XmlRpcReader::kMaxNames) {
            names_.push_back({std::string(text_.fits() ? at_most(text_.trimmed(), kMaxNameText + 1)
                                                       : std::string_view("\x01")),
                              {}});
            text_.trimmed_key(names_.back().key);
        }
    } else if (tag == Tag::MethodName) {
        method_ = at_most(text_.trimmed(), RequestScan::kMaxMethodName);
        method_position_ = auth_user_position(method_);
        emit_top_level();
    }
}

void AuthNameReader::put(Args& args, int index, const Value& value) {
    if (index < 0 || static_cast<std::size_t>(index) >= kSlots) {
        return;
    }
    Slot& slot = args.at[static_cast<std::size_t>(index)];
    slot.present = value.scalar && value.named;
    // Slots hold names: PHP-trimmed, long enough to tell an overlong one.
    slot.text.assign(value.scalar ? kept_user_name(value.text) : std::string_view());
    if (index == 0) {
        args.first_container = !value.scalar;
        if (value.scalar) {
            clear_slots(args.inner);
        } else {
            args.inner = value.frame->args.at;
        }
    }
}

void AuthNameReader::attach(const Value& value) {
    auto user_of = [](const Value& v) -> std::string {
        if (v.scalar || !v.frame->is_call || v.frame->call_method.empty()) {
            return {};
        }
        int position = auth_user_position(v.frame->call_method);
        if (position < 0 || static_cast<std::size_t>(position) >= kSlots) {
            return {};
        }
        const Slot& slot = v.frame->call_params.effective()[static_cast<std::size_t>(position)];
        return slot.present ? slot.text : std::string();
    };
    if (frames_.empty()) {
        top_touched_ = true;  // before put(): a throw there leaves a slot half set
        put(top_, static_cast<int>(top_.count), value);
        ++top_.count;
        if (calls_top_.size() < kMaxCalls) {
            calls_top_.push_back(user_of(value));
        }
        if (top_.count <= kSlots) {  // later parameters are no user name
            emit_top_level();
        }
        return;
    }
    Frame& container = frames_.back();
    if (container.holds_calls && frames_.size() == 1) {
        // An array appends; a struct keeps a key at its first place, with its last value.
        std::size_t place = calls_first_.size();
        if (container.is_struct) {
            static const std::string kEmptyName;
            const std::string& key = names_.empty() ? kEmptyName : names_.back().key;
            place = first_keys_.try_emplace(key, calls_first_.size()).first->second;
        }
        if (place < calls_first_.size()) {
            calls_first_[place] = user_of(value);
        } else if (calls_first_.size() < kMaxCalls) {
            calls_first_.push_back(user_of(value));
        }
    }
    if (!container.is_struct) {
        put(container.args, static_cast<int>(container.args.count), value);
        ++container.args.count;
        return;
    }
    std::string_view member = key();
    if (container.is_call && member == "methodName") {
        container.call_method =
            value.scalar ? at_most(value.text, RequestScan::kMaxMethodName) : std::string_view();
    } else if (container.is_call && member == "params") {
        container.call_params = value.scalar ? Args() : value.frame->args;
    }
    put(container.args, index_of_key(member), value);
    ++container.args.count;
}

void AuthNameReader::emit(const Slot& slot) {
    if (slot.present && candidates_.size() < kMaxCandidates) {
        candidates_.push_back(slot.text);
    }
}

// The parameters as they stand, under the method as it stands: both readings of a
// single container parameter, since more parameters may still follow.
void AuthNameReader::emit_top_level() {
    int position = method_position_;
    if (position < 0 || static_cast<std::size_t>(position) >= kSlots) {
        return;
    }
    auto index = static_cast<std::size_t>(position);
    if (top_.count > index) {
        emit(top_.at[index]);
    }
    if (top_.first_container) {
        emit(top_.inner[index]);
    }
}

std::string AuthNameReader::single_user(std::string_view method) const {
    int position = auth_user_position(method);
    if (position < 0 || static_cast<std::size_t>(position) >= kSlots) {
        return {};
    }
    const Slot& slot = top_.effective()[static_cast<std::size_t>(position)];
    return slot.present ? slot.text : std::string();
}

const std::vector<std::string>& AuthNameReader::call_users() const noexcept {
    return top_.count == 1 ? calls_first_ : calls_top_;
}

}  // namespace xmlrpcguard::detail
