#define BOOST_TEST_MODULE prefix_state
#include <sys/stat.h>
#include <unistd.h>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "prefix_state.hpp"
#include "test_window_table_support.hpp"

using namespace xmlrpcguard;
using xrg_test::SharedRegion;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;

Cidr cidr(const char* text) {
    return *Cidr::parse(text);
}

struct TempDir {
    TempDir() {
        char pattern[] = "/tmp/xrg-prefix-state-XXXXXX";
        path = mkdtemp(pattern);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string path;
};

}  // namespace

BOOST_AUTO_TEST_CASE(prefixes_round_trip_and_anything_else_is_refused) {
    std::vector<SavedPrefix> prefixes{{cidr("198.18.7.0/24"), kT0 + 100, kT0, false, 2},
                                      {cidr("2001:db8:77::/48"), 0, 0, true, 1}};
    std::string bytes = encode_prefix_state(prefixes, kT0);
    std::string why;
    auto decoded = decode_prefix_state(bytes, why);
    BOOST_REQUIRE(decoded);
    BOOST_TEST(decoded->written_at == kT0);
    BOOST_REQUIRE(decoded->prefixes.size() == 2u);
    BOOST_TEST(decoded->prefixes[0].prefix.to_string() == "198.18.7.0/24");
    BOOST_TEST(decoded->prefixes[0].times_banned == 2u);
    BOOST_TEST(decoded->prefixes[1].httpd_only);
    for (std::size_t at = 0; at < bytes.size(); ++at) {
        std::string bad = bytes;
        bad[at] = static_cast<char>(bad[at] ^ 0x10);
        BOOST_TEST(!decode_prefix_state(bad, why), "a flipped bit at " << at);
    }
    BOOST_TEST(!decode_prefix_state(bytes.substr(0, bytes.size() - 1), why));
    // A /8 is not what a prefix message could carry, even with a good checksum.
    BOOST_TEST(!decode_prefix_state(
        encode_prefix_state({{cidr("10.0.0.0/8"), 0, 0, false, 1}}, kT0), why));
}

BOOST_AUTO_TEST_CASE(saved_and_loaded_through_a_root_only_file) {
    if (geteuid() != 0) {
        BOOST_FAIL("needs root (the file must be root's)");
    }
    TempDir dir;
    SharedRegion region(PrefixTable::region_size(64));
    PrefixTable table = PrefixTable::attach(region.base(), region.size(), 64).first;
    table.ban(cidr("198.18.7.0/24"), kT0, kT0 + 600);
    table.ban(cidr("198.18.8.0/24"), kT0 - 900, kT0 - 300);  // ended: its count is kept
    PrefixStateFile file(dir.path + "/state");
    auto saved = file.save(table, kT0);
    BOOST_TEST(saved.ok, saved.error);
    BOOST_TEST(saved.entries == 2u);
    struct stat st {};
    BOOST_REQUIRE(stat(file.path().c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600u);

    SharedRegion other(PrefixTable::region_size(64));
    PrefixTable fresh = PrefixTable::attach(other.base(), other.size(), 64).first;
    auto loaded = file.load(fresh, kT0 + 1);
    BOOST_TEST((loaded.outcome == StateFile::Outcome::Restored));
    BOOST_TEST(loaded.bans == 1u);
    PrefixRule rule;
    BOOST_TEST(fresh.banned(*Address::parse("198.18.7.9"), rule, kT0 + 2));
    BOOST_TEST(!fresh.banned(*Address::parse("198.18.8.9"), rule, kT0 + 2));
    BOOST_TEST(fresh.times_banned(cidr("198.18.8.0/24")) == 1u);

    // A scribbled file is moved aside, never half-used.
    { std::ofstream(file.path(), std::ios::binary | std::ios::trunc) << "XRGPREFXjunk"; }
    chmod(file.path().c_str(), 0600);
    SharedRegion third(PrefixTable::region_size(64));
    PrefixTable empty = PrefixTable::attach(third.base(), third.size(), 64).first;
    loaded = file.load(empty, kT0 + 1);
    BOOST_TEST((loaded.outcome == StateFile::Outcome::Rejected));
    BOOST_TEST(!loaded.moved_to.empty());
    BOOST_TEST(empty.stats(kT0).used == 0u);
}
