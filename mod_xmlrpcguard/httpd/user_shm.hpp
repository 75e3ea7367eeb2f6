// The UserTable's shared memory and the secret key of the name hashes: made in the
// parent at post_config, inherited by every child, kept across graceful restarts in
// httpd's retained data like the address table (table_shm.cpp). The key is random
// (getrandom), made once per httpd process, and lives only in process memory, never
// in the segment: what the segment holds cannot be turned back into names by trying
// a dictionary.
#pragma once

#include <httpd.h>

#include <cstddef>
#include <optional>

#include "xmlrpcguard/user_names.hpp"
#include "xmlrpcguard/user_table.hpp"

namespace xmlrpcguard::httpd {

int attach_user_table(server_rec* main_server, std::size_t capacity) noexcept;

std::optional<UserTable> shared_user_table() noexcept;
const NameHasher* name_hasher() noexcept;

// The vhost's key in the user table: its ServerName and port.
std::uint64_t user_vhost_id(const server_rec* s) noexcept;

}  // namespace xmlrpcguard::httpd
