// The load benchmark's stand-in for xmlrpc.php: reads the whole request body (through
// the input filters, as PHP would) and answers one fixed XML-RPC success, the size of
// WordPress's wp.getUsersBlogs answer. It lets wrk measure httpd and the guard, not PHP.
// Enabled with `SetHandler xrg-fixed-answer`. Not installed anywhere; benchmarks only.
#include <httpd.h>  // first: the other httpd headers need its types

#include <http_config.h>
#include <http_protocol.h>

#include <cstring>

namespace {

constexpr char kAnswer[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n  <params>\n    <param>\n"
    "      <value>\n      <array><data>\n  <value><struct>\n"
    "  <member><name>isAdmin</name><value><boolean>1</boolean></value></member>\n"
    "  <member><name>url</name><value><string>http://blog.test/</string></value></member>\n"
    "  <member><name>blogid</name><value><string>1</string></value></member>\n"
    "  <member><name>blogName</name><value><string>A guarded blog</string></value></member>\n"
    "  "
    "<member><name>xmlrpc</name><value><string>http://blog.test/xmlrpc.php</string></value></"
    "member>\n"
    "</struct></value>\n</data></array>\n      </value>\n    </param>\n  </params>\n"
    "</methodResponse>\n";

int fixed_answer(request_rec* r) {
    if (!r->handler || std::strcmp(r->handler, "xrg-fixed-answer") != 0) {
        return DECLINED;
    }
    if (int rc = ap_discard_request_body(r); rc != OK) {
        return rc;
    }
    ap_set_content_type(r, "text/xml; charset=UTF-8");
    ap_set_content_length(r, sizeof kAnswer - 1);
    ap_rwrite(kAnswer, sizeof kAnswer - 1, r);
    return OK;
}

void register_hooks(apr_pool_t*) {
    ap_hook_handler(fixed_answer, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace

extern "C" {
module AP_MODULE_DECLARE_DATA xrg_fixed_answer_module = {
    STANDARD20_MODULE_STUFF, nullptr, nullptr, nullptr, nullptr, nullptr, register_hooks,
    AP_MODULE_FLAG_NONE,
};
}
