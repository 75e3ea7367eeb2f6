#include "lift_bans.hpp"

#include <vector>

namespace xmlrpcguard {

std::size_t lift_all_bans(WindowTable& table, std::int64_t now) {
    std::vector<Address> banned;
    table.for_each(now, 1, [&](const EntryView& e) {
        if (e.banned_until > now) {
            banned.push_back(e.address);
        }
    });
    for (const Address& key : banned) {
        table.unban(key, now);
    }
    return banned.size();
}

}  // namespace xmlrpcguard
