#include "xmlrpcguard/ipset_sink.hpp"

#include <libipset/ipset.h>
#include <libipset/session.h>
#include <libipset/types.h>

#include <bit>
#include <cstdarg>
#include <cstdio>
#include <vector>

namespace xmlrpcguard {

// One libipset handle per command, its messages captured instead of printed:
// libipset's own handlers print to stderr and exit() the process, which a helper must
// never do. A handle is not reused because libipset 7.17 reports a failed add at the
// next command of the same handle, and a listing after other commands fails.
// (A fresh handle costs ~30 us an add here, against ~2 ms for a shell `ipset add`.)
struct IpsetSink::Session {
    static void load_types_once() {
        static const bool loaded = [] {
            ipset_load_types();
            return true;
        }();
        (void)loaded;
    }

    // Runs one command given as words; false with `error` set if the kernel or the
    // parser refused it (libipset's return code alone misses some refusals).
    bool run(const std::vector<std::string>& words, std::string& error_out) {
        load_types_once();
        struct ipset* handle = ipset_init();
        if (!handle) {
            error_out = "libipset: cannot open a session";
            return false;
        }
        ipset_custom_printf(handle, &on_custom_error, &on_standard_error, &on_output, this);
        std::vector<std::string> argv_words{"ipset"};
        argv_words.insert(argv_words.end(), words.begin(), words.end());
        std::vector<char*> argv;
        for (std::string& word : argv_words) {
            argv.push_back(word.data());
        }
        argv.push_back(nullptr);
        failed = false;
        error.clear();
        output.clear();
        int status = ipset_parse_argv(handle, static_cast<int>(argv_words.size()), argv.data());
        ipset_fini(handle);
        if (status == 0 && !failed) {
            return true;
        }
        error_out = error.empty() ? "ipset " + words.front() + " failed" : error;
        while (!error_out.empty() && (error_out.back() == '\n' || error_out.back() == ' ')) {
            error_out.pop_back();
        }
        return false;
    }

    static int on_custom_error(struct ipset*, void* self, int status, const char* format, ...)
        __attribute__((format(printf, 4, 5))) {
        auto& session = *static_cast<Session*>(self);
        va_list args;
        va_start(args, format);
        session.capture(session.error, format, args);
        va_end(args);
        session.failed = session.failed || status != 0;
        return status == 0 ? 0 : -1;
    }
    static int on_standard_error(struct ipset* handle, void* self) {
        auto& session = *static_cast<Session*>(self);
        struct ipset_session* report = ipset_session(handle);
        bool failed = ipset_session_report_type(report) == IPSET_ERROR;
        if (failed) {
            session.error = ipset_session_report_msg(report);
            session.failed = true;
        }
        ipset_session_report_reset(report);
        return failed ? -1 : 0;
    }
    static int on_output(struct ipset_session*, void* self, const char* format, ...)
        __attribute__((format(printf, 3, 4))) {
        auto& session = *static_cast<Session*>(self);
        va_list args;
        va_start(args, format);
        int length = session.capture(session.output, format, args);
        va_end(args);
        return length;
    }

    int capture(std::string& into, const char* format, va_list args) {
        char buffer[1024];
        int length = std::vsnprintf(buffer, sizeof buffer, format, args);
        if (length > 0) {
            into.append(buffer,
                        std::min<std::size_t>(static_cast<std::size_t>(length), sizeof buffer - 1));
        }
        return length;
    }

    bool failed = false;
    std::string error;
    std::string output;
};

IpsetSink::IpsetSink(std::string ipv4_set, std::string ipv6_set)
    : session_(std::make_unique<Session>()),
      ipv4_set_(std::move(ipv4_set)),
      ipv6_set_(std::move(ipv6_set)) {}

IpsetSink::IpsetSink(std::string ipv4_set, std::string ipv6_set, Kind kind)
    : IpsetSink(std::move(ipv4_set), std::move(ipv6_set)) {
    kind_ = kind;
}

IpsetSink::~IpsetSink() = default;

bool IpsetSink::run(std::string command, std::string& error) {
    std::vector<std::string> words;
    for (std::size_t at = 0; at < command.size();) {
        std::size_t end = command.find(' ', at);
        end = end == std::string::npos ? command.size() : end;
        if (end > at) {
            words.push_back(command.substr(at, end - at));
        }
        at = end + 1;
    }
    return session_->run(words, error);
}

bool IpsetSink::create_sets(std::size_t capacity, std::string& error) {
    // A bucket per expected entry: the set never resizes while the table fits.
    std::size_t hashsize = std::bit_ceil(std::max<std::size_t>(1024, capacity));
    std::size_t maxelem = std::max<std::size_t>(65536, capacity);
    struct Wanted {
        const std::string& name;
        const char* type;
        const char* family;
    };
    for (const Wanted& set :
         {Wanted{ipv4_set_, kind_ == Kind::Networks ? "hash:net" : "hash:ip", "inet"},
          Wanted{ipv6_set_, "hash:net", "inet6"}}) {
        std::string ignored;
        if (run("list -t " + set.name, ignored)) {
            continue;  // present already (ours from an earlier start, or the operator's)
        }
        if (!run("create " + set.name + " " + set.type + " family " + set.family +
                     " timeout 0 hashsize " + std::to_string(hashsize) + " maxelem " +
                     std::to_string(maxelem) + " -exist",
                 error)) {
            return false;
        }
    }
    return true;
}

std::optional<unsigned> IpsetSink::references(std::string_view set, std::string& error) {
    if (!run("list -t " + std::string(set), error)) {
        return std::nullopt;
    }
    constexpr std::string_view kLabel = "References: ";
    std::string_view output = session_->output;
    auto at = output.find(kLabel);
    if (at == std::string_view::npos) {
        error = "no References line in the listing of " + std::string(set);
        return std::nullopt;
    }
    return static_cast<unsigned>(std::strtoul(output.data() + at + kLabel.size(), nullptr, 10));
}

std::string IpsetSink::target(const BanRequest& request) const {
    bool v4 = request.key.is_ipv4();
    std::string text = (v4 ? ipv4_set_ : ipv6_set_) + " " + request.key.to_string();
    if (!v4 || kind_ == Kind::Networks) {
        text.append("/").append(std::to_string(request.prefix));
    }
    return text;
}

bool IpsetSink::add(const BanRequest& request, std::string& error) {
    return run("add " + target(request) + " timeout " +
                   std::to_string(std::min(request.seconds, kKernelMaxTimeout)) + " -exist",
               error);
}

bool IpsetSink::remove(const BanRequest& request, std::string& error) {
    return run("del " + target(request) + " -exist", error);
}

bool IpsetSink::flush(std::string& error) {
    return run("flush " + ipv4_set_, error) && run("flush " + ipv6_set_, error);
}

}  // namespace xmlrpcguard
