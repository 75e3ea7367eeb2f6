// Placeholder module: registers itself and nothing else yet.
#include <httpd.h>
#include <http_config.h>

extern "C" {
static void xrg_register_hooks(apr_pool_t*) {}

__attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA xmlrpcguard_module = {
    STANDARD20_MODULE_STUFF, nullptr, nullptr, nullptr, nullptr, nullptr, xrg_register_hooks,
    AP_MODULE_FLAG_NONE};
}
