#include "user_shm.hpp"

#include <apr_shm.h>
#include <http_log.h>
#include <sys/random.h>

#include <cstdint>
#include <exception>

#include "glue.hpp"

namespace xmlrpcguard::httpd {
namespace {

constexpr const char* kRetainedKey = "mod_xmlrpcguard-users";
constexpr std::size_t kAlignment = 64;

// In httpd's retained data, which outlives module reloads: plain data only.
struct Retained {
    apr_shm_t* segment;
    std::size_t capacity;
    NameKey key;
};

// Set once per generation in the parent before any child exists; read-only after.
std::optional<UserTable> g_users;
std::optional<NameHasher> g_hasher;

void* aligned_base(apr_shm_t* segment, std::size_t& bytes) {
    auto address = reinterpret_cast<std::uintptr_t>(apr_shm_baseaddr_get(segment));
    std::uintptr_t aligned = (address + kAlignment - 1) & ~(kAlignment - 1);
    bytes = apr_shm_size_get(segment) - (aligned - address);
    return reinterpret_cast<void*>(aligned);
}

bool random_key(NameKey& key) {
    auto* bytes = reinterpret_cast<unsigned char*>(key.data());
    std::size_t got = 0;
    while (got < sizeof(NameKey)) {
        ssize_t n = getrandom(bytes + got, sizeof(NameKey) - got, 0);
        if (n <= 0) {
            return false;
        }
        got += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

std::optional<UserTable> shared_user_table() noexcept {
    return g_users;
}

const NameHasher* name_hasher() noexcept {
    return g_hasher ? &*g_hasher : nullptr;
}

int attach_user_table(server_rec* s, std::size_t capacity) noexcept {
    try {
        auto* retained = static_cast<Retained*>(ap_retained_data_get(kRetainedKey));
        if (!retained) {
            retained =
                static_cast<Retained*>(ap_retained_data_create(kRetainedKey, sizeof(Retained)));
            retained->segment = nullptr;
            retained->capacity = 0;
            if (!random_key(retained->key)) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                             "XRG0307: cannot draw the key of the user name hashes (getrandom)");
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        g_hasher.emplace(retained->key);
        if (retained->segment && retained->capacity == capacity) {
            std::size_t bytes = 0;
            void* base = aligned_base(retained->segment, bytes);
            auto [table, how] = UserTable::attach(base, bytes, capacity);
            g_users = table;
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                         "XRG0300: user table of %" APR_SIZE_T_FMT " names %s across the restart",
                         table.capacity(),
                         how == UserTable::Attach::Reused ? "kept" : "re-initialised");
            return OK;
        }
        // New, or XmlRpcGuardUserTableSize changed: locks and trust start over (the
        // address table's bans are kept; a name under attack is locked again quickly).
        std::size_t bytes = UserTable::region_size(capacity) + kAlignment;
        apr_shm_t* segment = nullptr;
        if (apr_status_t rv = apr_shm_create(&segment, bytes, nullptr, s->process->pool);
            rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                         "XRG0307: cannot create the user table (%" APR_SIZE_T_FMT
                         " bytes, XmlRpcGuardUserTableSize %" APR_SIZE_T_FMT ")",
                         bytes, capacity);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        std::size_t usable = 0;
        void* base = aligned_base(segment, usable);
        auto [table, how] = UserTable::attach(base, usable, capacity);
        (void)how;
        if (retained->segment) {
            apr_shm_destroy(retained->segment);
        }
        retained->segment = segment;
        retained->capacity = capacity;
        g_users = table;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "XRG0300: user table of %" APR_SIZE_T_FMT " names created (%" APR_SIZE_T_FMT
                     " bytes of shared memory)",
                     table.capacity(), bytes);
        return OK;
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "XRG0307: cannot attach the user table: %s",
                     e.what());
    } catch (...) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "XRG0307: cannot attach the user table");
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace xmlrpcguard::httpd
