// The state file: a round trip through the table, and every way a file can be bad.
#define BOOST_TEST_MODULE state_file
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "state_file.hpp"
#include "test_window_table_support.hpp"
#include "xmlrpcguard/window_table.hpp"

using namespace xmlrpcguard;
using xrg_test::SharedRegion;
using xrg_test::test_address;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;

struct Table {
    explicit Table(std::size_t capacity = 256)
        : region(WindowTable::region_size(capacity)),
          table(WindowTable::attach(region.base(), region.size(), capacity).first) {}
    SharedRegion region;
    WindowTable table;
};

// A directory of our own, 0700 (root's when the tests run as root, as they do in CI).
struct Dir {
    Dir() {
        char pattern[] = "/tmp/xrg-state-XXXXXX";
        path = mkdtemp(pattern);
    }
    ~Dir() { fs::remove_all(path); }
    std::string file() const { return path + "/state"; }
    std::string path;
};

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    chmod(path.c_str(), 0600);
}

bool running_as_root() {
    return geteuid() == 0;
}

// A table with a running ban, an ended one (its count), and an open window.
void fill(WindowTable& table) {
    WindowRule rule{3600, 3};
    table.record(test_address(1), kT0, 3, rule);
    table.ban(test_address(1), kT0, kT0 + 7200, BanReason::AuthFailure);
    table.ban(test_address(2), kT0 - 500, kT0 - 100, BanReason::LoginFailure);
    table.ban(test_address(2), kT0 - 50, kT0 + 600, BanReason::Manual, BanScope::HttpdOnly);
    table.ban(test_address(3), kT0 - 900, kT0 - 800, BanReason::PingbackError);
    table.record(test_address(4), kT0 - 10, 2, rule);
    table.record(test_address(5), kT0 - 90000, 1, rule);  // long closed: not kept
}

}  // namespace

BOOST_AUTO_TEST_CASE(crc32_is_the_ieee_one) {
    BOOST_TEST(crc32("123456789") == 0xCBF43926u);
    BOOST_TEST(crc32("") == 0u);
}

BOOST_AUTO_TEST_CASE(a_save_and_a_load_bring_back_bans_counts_and_windows) {
    BOOST_REQUIRE_MESSAGE(running_as_root(), "the state file is root's: run as root");
    Dir dir;
    Table before;
    fill(before.table);
    StateFile file(dir.file());
    auto saved = file.save(before.table, kT0, 3600);
    BOOST_TEST_REQUIRE(saved.ok, saved.error);
    BOOST_TEST(saved.entries == 4u);
    struct stat st {};
    BOOST_REQUIRE(stat(dir.file().c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600u);
    BOOST_TEST(!fs::exists(dir.file() + ".tmp"));

    Table after;
    auto loaded = file.load(after.table, kT0 + 60);
    BOOST_TEST(static_cast<int>(loaded.outcome) == static_cast<int>(StateFile::Outcome::Restored));
    BOOST_TEST(loaded.restored == 4u);
    BOOST_TEST(loaded.bans == 2u);
    BOOST_TEST(loaded.written_at == kT0);
    BOOST_TEST(after.table.banned(test_address(1), kT0 + 60));
    BOOST_TEST(after.table.banned(test_address(2), kT0 + 60));
    BOOST_TEST(!after.table.banned(test_address(3), kT0 + 60));
    BOOST_TEST(after.table.times_banned(test_address(1)) == 1u);
    BOOST_TEST(after.table.times_banned(test_address(2)) == 2u);
    BOOST_TEST(after.table.times_banned(test_address(3)) == 1u);
    BOOST_TEST(after.table.times_banned(test_address(5)) == 0u);
    int seen = 0;
    after.table.for_each(kT0 + 60, 3600, [&](const EntryView& e) {
        if (e.address == test_address(2)) {
            ++seen;
            BOOST_TEST(e.banned_until == kT0 + 600);
            BOOST_TEST(e.httpd_only);
            BOOST_TEST((e.reason == BanReason::Manual));
        }
        if (e.address == test_address(4)) {
            ++seen;
            BOOST_TEST(e.in_window == 2u);  // the open window came back
        }
    });
    BOOST_TEST(seen == 2);
    BOOST_TEST(after.table.audit() == "");

    // Loading again changes nothing: the window is not counted twice.
    file.load(after.table, kT0 + 60);
    after.table.for_each(kT0 + 60, 3600, [&](const EntryView& e) {
        if (e.address == test_address(4)) {
            BOOST_TEST(e.in_window == 2u);
        }
    });
}

BOOST_AUTO_TEST_CASE(no_file_is_a_first_start) {
    Dir dir;
    Table table;
    auto loaded = StateFile(dir.file()).load(table.table, kT0);
    BOOST_TEST(static_cast<int>(loaded.outcome) == static_cast<int>(StateFile::Outcome::Missing));
}

// Each bad file is moved aside whole, and nothing of it reaches the table.
BOOST_AUTO_TEST_CASE(every_kind_of_bad_file_is_moved_aside_and_the_table_stays_empty) {
    BOOST_REQUIRE_MESSAGE(running_as_root(), "the state file is root's: run as root");
    Table source;
    fill(source.table);
    std::vector<SavedEntry> entries;
    source.table.for_each_saved([&](const SavedEntry& e) { entries.push_back(e); });
    std::string good = encode_state(entries, kT0);
    std::string why;
    BOOST_REQUIRE_MESSAGE(decode_state(good, why).has_value(), why);

    auto with_crc = [](std::string body) {
        body.resize(body.size() - 4);
        std::uint32_t crc = crc32(body);
        for (int i = 0; i < 4; ++i) {
            body.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
        }
        return body;
    };
    std::string future = good;
    future[8] = 2;  // version 2, checksum made right: refused for its version alone
    std::string foreign = good;
    foreign.replace(0, 8, "NOTOURS!");
    std::string flipped = good;
    flipped[40] ^= 0x01;
    std::string odd_entry = good;
    odd_entry[32 + 16 + 24 + 8] = 9;  // first entry's reason
    struct Case {
        const char* name;
        std::string bytes;
        const char* why;
    } cases[] = {
        {"empty", "", "truncated"},
        {"truncated header", good.substr(0, 20), "truncated"},
        {"truncated entries", good.substr(0, good.size() - 50), "truncated"},
        {"bad checksum", flipped, "checksum"},
        {"wrong magic", foreign, "magic"},
        {"future version", with_crc(future), "newer than"},
        {"malformed entry", with_crc(odd_entry), "malformed"},
        {"trailing bytes", good + "x", "trailing"},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            Dir dir;
            write_bytes(dir.file(), c.bytes);
            Table table;
            auto loaded = StateFile(dir.file()).load(table.table, kT0 + 60);
            BOOST_TEST(static_cast<int>(loaded.outcome) ==
                       static_cast<int>(StateFile::Outcome::Rejected));
            BOOST_TEST(loaded.why.find(c.why) != std::string::npos, loaded.why);
            BOOST_TEST(loaded.restored == 0u);
            BOOST_TEST(table.table.stats(kT0 + 60).used == 0u);
            BOOST_TEST(!fs::exists(dir.file()));
            BOOST_TEST_REQUIRE(!loaded.moved_to.empty());
            BOOST_TEST(loaded.moved_to.find(dir.file() + ".bad-") == 0u);
            BOOST_TEST(read_bytes(loaded.moved_to) == c.bytes);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_file_others_could_write_is_never_read) {
    BOOST_REQUIRE_MESSAGE(running_as_root(), "the state file is root's: run as root");
    Table source;
    fill(source.table);
    Dir dir;
    StateFile file(dir.file());
    BOOST_REQUIRE(file.save(source.table, kT0, 3600).ok);
    chmod(dir.file().c_str(), 0666);
    Table table;
    auto loaded = file.load(table.table, kT0);
    BOOST_TEST(static_cast<int>(loaded.outcome) == static_cast<int>(StateFile::Outcome::Rejected));
    BOOST_TEST(table.table.stats(kT0).used == 0u);

    BOOST_REQUIRE(file.save(source.table, kT0, 3600).ok);
    chmod(dir.path.c_str(), 0777);  // a directory anyone may write: neither read nor written
    loaded = file.load(table.table, kT0);
    BOOST_TEST(static_cast<int>(loaded.outcome) == static_cast<int>(StateFile::Outcome::Unsafe));
    BOOST_TEST(table.table.stats(kT0).used == 0u);
    BOOST_TEST(!file.save(source.table, kT0, 3600).ok);
}
