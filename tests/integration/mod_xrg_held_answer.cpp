// A test backend for the one race no PHP backend can stage on demand: an answer that
// has gone down the output filters but has not ended when its client is banned.
// `SetHandler xrg-held-answer`; `?hold=NAME`: reads the request body, passes a whole
// XML-RPC fault 403 on (no FLUSH, so it waits in the core output filter as a small
// answer from mod_proxy_fcgi does), touches flags/NAME.started under the document
// root, waits for flags/NAME (at most 10 s), then passes the end of the answer.
// Built for the integration suites only; never installed.
#include <httpd.h>  // first: the other httpd headers need its types

#include <http_config.h>
#include <http_core.h>
#include <http_protocol.h>
#include <util_filter.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <unistd.h>

namespace {

constexpr char kFault[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n  <fault>\n    <value>\n"
    "      <struct>\n        <member>\n          <name>faultCode</name>\n"
    "          <value><int>403</int></value>\n        </member>\n        <member>\n"
    "          <name>faultString</name>\n"
    "          <value><string>Incorrect username or password.</string></value>\n"
    "        </member>\n      </struct>\n    </value>\n  </fault>\n</methodResponse>\n";

// "hold=NAME" -> NAME, if it is a plain file name.
std::string hold_name(const request_rec* r) {
    const char* args = r->args ? r->args : "";
    if (std::strncmp(args, "hold=", 5) != 0) {
        return {};
    }
    std::string name(args + 5);
    if (name.empty() || name.find_first_of("/&") != std::string::npos || name[0] == '.') {
        return {};
    }
    return name;
}

int held_answer(request_rec* r) {
    if (!r->handler || std::strcmp(r->handler, "xrg-held-answer") != 0) {
        return DECLINED;
    }
    std::string name = hold_name(r);
    if (name.empty()) {
        return HTTP_BAD_REQUEST;
    }
    if (int rc = ap_discard_request_body(r); rc != OK) {
        return rc;
    }
    std::string flag = std::string(ap_document_root(r)) + "/flags/" + name;
    ap_set_content_type(r, "text/xml; charset=UTF-8");
    ap_set_content_length(r, sizeof kFault - 1);
    apr_bucket_brigade* bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(
        bb, apr_bucket_immortal_create(kFault, sizeof kFault - 1, bb->bucket_alloc));
    if (ap_pass_brigade(r->output_filters, bb) != APR_SUCCESS) {
        return OK;
    }
    apr_brigade_cleanup(bb);
    if (FILE* started = std::fopen((flag + ".started").c_str(), "w")) {
        std::fclose(started);
    }
    for (int i = 0; i < 1000 && access(flag.c_str(), F_OK) != 0; ++i) {
        usleep(10000);
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
    return OK;
}

void register_hooks(apr_pool_t*) {
    ap_hook_handler(held_answer, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace

extern "C" {
module AP_MODULE_DECLARE_DATA xrg_held_answer_module = {
    STANDARD20_MODULE_STUFF, nullptr, nullptr, nullptr, nullptr, nullptr, register_hooks,
    AP_MODULE_FLAG_NONE,
};
}
