// The two filters of a guarded request: the input tee (request body -> request
// scanner) and the answer filter (answer -> response scanner, verdict at EOS).
#pragma once

#include <httpd.h>

#include "exchange.hpp"

namespace xmlrpcguard::httpd {

void register_filters();
void add_filters(request_rec* r, GuardedExchange* exchange);

}  // namespace xmlrpcguard::httpd
