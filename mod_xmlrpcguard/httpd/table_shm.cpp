#include "table_shm.hpp"

#include <apr_shm.h>
#include <apr_strings.h>
#include <httpd.h>  // first: the other httpd headers need its types

#include <http_core.h>
#include <unistd.h>

#include <cstdint>
#include <exception>

#include "glue.hpp"

namespace xmlrpcguard::httpd {
namespace {

constexpr const char* kRetainedKey = "mod_xmlrpcguard-table";

// Lives in httpd's retained data, which outlives module reloads: plain data only.
struct Retained {
    apr_shm_t* segment;
    std::size_t capacity;
};

// Set once per generation in the parent before any child exists; read-only after.
std::optional<WindowTable> g_table;
std::optional<GuardCounters> g_counters;
std::optional<PrefixTable> g_prefixes;

std::int64_t now_seconds() {
    return apr_time_sec(apr_time_now());
}

// apr_shm keeps its own bookkeeping at the start of the mapping, so the base it
// hands out is only 8-byte aligned; the table wants 64-byte cache lines.
constexpr std::size_t kRegionAlignment = 64;

struct Region {
    void* base;
    std::size_t bytes;
};

Region region_of(apr_shm_t* segment) {
    auto address = reinterpret_cast<std::uintptr_t>(apr_shm_baseaddr_get(segment));
    std::uintptr_t aligned = (address + kRegionAlignment - 1) & ~(kRegionAlignment - 1);
    return {reinterpret_cast<void*>(aligned), apr_shm_size_get(segment) - (aligned - address)};
}

// [table: region_size(capacity), rounded up to 64][counters]
std::size_t counters_offset(std::size_t capacity) {
    return (WindowTable::region_size(capacity) + kRegionAlignment - 1) & ~(kRegionAlignment - 1);
}

// [table][counters][prefix table], each part 64-byte aligned.
std::size_t prefixes_offset(std::size_t capacity) {
    return (counters_offset(capacity) + GuardCounters::region_size() + kRegionAlignment - 1) &
           ~(kRegionAlignment - 1);
}

std::size_t segment_bytes(std::size_t capacity) {
    return prefixes_offset(capacity) + PrefixTable::region_size(PrefixTable::kDefaultCapacity) +
           kRegionAlignment;
}

PrefixTable prefixes_in(const Region& region, std::size_t capacity) {
    std::size_t offset = prefixes_offset(capacity);
    return PrefixTable::attach(static_cast<std::byte*>(region.base) + offset, region.bytes - offset,
                               PrefixTable::kDefaultCapacity)
        .first;
}

// The running prefix bans of an old segment (a resize, or one made by an older build).
void carry_prefixes_over(const Region& old_region, std::size_t old_capacity, PrefixTable& into,
                         std::int64_t now) {
    std::size_t offset = prefixes_offset(old_capacity);
    if (offset >= old_region.bytes) {
        return;
    }
    auto old = PrefixTable::open(static_cast<std::byte*>(old_region.base) + offset,
                                 old_region.bytes - offset);
    if (!old) {
        return;
    }
    old->for_each(now, 1, [&](const PrefixView& view) {
        if (view.banned_until > now) {
            into.restore({view.prefix, view.banned_until, view.banned_since, view.httpd_only,
                          view.times_banned},
                         now);
        }
    });
}

GuardCounters counters_in(const Region& region, std::size_t capacity) {
    std::size_t offset = counters_offset(capacity);
    return GuardCounters::attach(static_cast<std::byte*>(region.base) + offset,
                                 region.bytes - offset);
}

// Anonymous shared memory first; a name in the runtime directory where the
// platform cannot do anonymous segments.
apr_status_t create_segment(server_rec* s, std::size_t bytes, apr_shm_t** segment) {
    apr_pool_t* pool = s->process->pool;  // survives restarts, like the retained data
    apr_status_t rv = apr_shm_create(segment, bytes, nullptr, pool);
    if (rv != APR_ENOTIMPL) {
        return rv;
    }
    const char* name = ap_runtime_dir_relative(
        pool, apr_psprintf(pool, "xmlrpcguard.%" APR_PID_T_FMT ".shm", getpid()));
    apr_shm_remove(name, pool);
    return apr_shm_create(segment, bytes, name, pool);
}

}  // namespace

std::optional<WindowTable> shared_table() noexcept {
    return g_table;
}

GuardCounters* shared_counters() noexcept {
    return g_counters ? &*g_counters : nullptr;
}

std::optional<PrefixTable> shared_prefixes() noexcept {
    return g_prefixes;
}

int attach_shared_table(server_rec* s, std::size_t capacity) noexcept {
    try {
        auto* retained = static_cast<Retained*>(ap_retained_data_get(kRetainedKey));
        if (!retained) {
            retained =
                static_cast<Retained*>(ap_retained_data_create(kRetainedKey, sizeof(Retained)));
            retained->segment = nullptr;
            retained->capacity = 0;
        }
        // (A segment made by an older build without room for the counters is replaced.)
        if (retained->segment && retained->capacity == capacity &&
            apr_shm_size_get(retained->segment) >= segment_bytes(capacity)) {
            Region region = region_of(retained->segment);
            auto [table, how] = WindowTable::attach(region.base, region.bytes, capacity);
            g_table = table;
            g_counters = counters_in(region, capacity);
            g_prefixes = prefixes_in(region, capacity);
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                         "XRG0002: table of %" APR_SIZE_T_FMT " addresses %s across the restart",
                         capacity, how == WindowTable::Attach::Reused ? "kept" : "re-initialised");
            return OK;
        }

        std::size_t bytes = segment_bytes(capacity);
        apr_shm_t* segment = nullptr;
        if (apr_status_t rv = create_segment(s, bytes, &segment); rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                         "XRG0003: cannot create the shared table (%" APR_SIZE_T_FMT
                         " bytes, "
                         "XmlRpcGuardTableSize %" APR_SIZE_T_FMT ")",
                         bytes, capacity);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        Region region = region_of(segment);
        auto [table, how] = WindowTable::attach(region.base, region.bytes, capacity);
        (void)how;
        GuardCounters counters = counters_in(region, capacity);
        PrefixTable prefixes = prefixes_in(region, capacity);
        if (retained->segment) {
            // XmlRpcGuardTableSize changed: carry every count, ban and counter over.
            Region old_region = region_of(retained->segment);
            if (auto old = WindowTable::open(old_region.base, old_region.bytes)) {
                table.copy_from(*old, now_seconds());
            }
            if (apr_shm_size_get(retained->segment) >= segment_bytes(retained->capacity)) {
                GuardCounters old_counters = counters_in(old_region, retained->capacity);
                counters.restore(old_counters.read(), old_counters.since());
            }
            carry_prefixes_over(old_region, retained->capacity, prefixes, now_seconds());
            apr_shm_destroy(retained->segment);
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "XRG0004: table resized from %" APR_SIZE_T_FMT " to %" APR_SIZE_T_FMT
                         " addresses, entries carried over",
                         retained->capacity, capacity);
        } else {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                         "XRG0001: table of %" APR_SIZE_T_FMT " addresses created (%" APR_SIZE_T_FMT
                         " bytes of shared memory)",
                         capacity, bytes);
        }
        retained->segment = segment;
        retained->capacity = capacity;
        g_table = table;
        g_counters = counters;
        g_prefixes = prefixes;
        return OK;
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "XRG0005: cannot attach the shared table: %s",
                     e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "XRG0005: cannot attach the shared table");
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace xmlrpcguard::httpd
