// The status page handler (SetHandler xmlrpcguard-status).
#pragma once

#include <httpd.h>

namespace xmlrpcguard::httpd {

int status_handler(request_rec* r) noexcept;

}  // namespace xmlrpcguard::httpd
