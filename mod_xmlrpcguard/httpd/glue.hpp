// What every glue file shares: the module record, the logging hook-up and the
// pool helper. Glue files translate between httpd and the core; nothing here
// decides anything.
#pragma once

#include <httpd.h>  // first: the other httpd headers need its types

#include <http_config.h>
#include <http_log.h>

#include <apr_pools.h>

#include <new>
#include <utility>

extern "C" module AP_MODULE_DECLARE_DATA xmlrpcguard_module;
APLOG_USE_MODULE(xmlrpcguard);

namespace xmlrpcguard::httpd {

// Constructs a T in `pool`'s memory and destroys it when the pool is cleared, so a
// C++ object (a scanner, a vector) lives exactly as long as the request or config.
template <class T, class... Args>
T* pool_new(apr_pool_t* pool, Args&&... args) {
    static_assert(alignof(T) <= alignof(std::max_align_t));
    void* memory = apr_palloc(pool, sizeof(T));
    T* object = new (memory) T(std::forward<Args>(args)...);
    apr_pool_cleanup_register(
        pool, object,
        [](void* p) -> apr_status_t {
            static_cast<T*>(p)->~T();
            return APR_SUCCESS;
        },
        apr_pool_cleanup_null);
    return object;
}

}  // namespace xmlrpcguard::httpd
