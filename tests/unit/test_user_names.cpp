// Who is being guessed: user names read as WordPress reads them, folded, hashed,
// and the per-name table in a private region.
#define BOOST_TEST_MODULE user_names
#include <boost/test/unit_test.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "xmlrpcguard/user_names.hpp"
#include "xmlrpcguard/user_table.hpp"
#include "xmlrpcguard/xmlrpc_scanner.hpp"

using namespace xmlrpcguard;

namespace {

RequestScan scan(const std::string& body, std::vector<std::string>* candidates = nullptr,
                 std::size_t piece = 0) {
    RequestScanner scanner;
    scanner.read_user_names();
    if (piece == 0) {
        scanner.feed(body);
    } else {
        for (std::size_t i = 0; i < body.size(); i += piece) {
            scanner.feed(std::span(body.data() + i, std::min(piece, body.size() - i)));
        }
    }
    scanner.finish();
    if (candidates) {
        *candidates = scanner.user_candidates();
    }
    return scanner.result();
}

std::string call(const std::string& method, const std::string& params) {
    return "<?xml version=\"1.0\"?><methodCall><methodName>" + method + "</methodName><params>" +
           params + "</params></methodCall>";
}

std::string p(const std::string& value) {
    return "<param><value>" + value + "</value></param>";
}

std::string s(const std::string& text) {
    return "<string>" + text + "</string>";
}

std::string mc(const std::string& method, const std::string& params) {
    return "<value><struct><member><name>methodName</name><value><string>" + method +
           "</string></value></member><member><name>params</name><value><array><data>" + params +
           "</data></array></value></member></struct></value>";
}

}  // namespace

BOOST_AUTO_TEST_CASE(positions_follow_wordpress) {
    BOOST_TEST(auth_user_position("wp.getUsersBlogs") == 0);
    BOOST_TEST(auth_user_position("wp.getPosts") == 1);
    BOOST_TEST(auth_user_position("wp.getPage") == 2);
    BOOST_TEST(auth_user_position("blogger.getPost") == 2);
    BOOST_TEST(auth_user_position("blogger.getUsersBlogs") == 1);
    BOOST_TEST(auth_user_position("metaWeblog.deletePost") == 2);
    BOOST_TEST(auth_user_position("pingback.ping") == -1);
    BOOST_TEST(auth_user_position("system.multicall") == -1);
}

BOOST_AUTO_TEST_CASE(fold_meets_case_space_entities_accents) {
    BOOST_TEST(login_fold("Admin") == "admin");
    BOOST_TEST(login_fold("  ADMIN \n") == "admin");
    BOOST_TEST(login_fold("ad<b>min</b>") == "admin");
    BOOST_TEST(login_fold("ad%41min") == "admin");
    BOOST_TEST(login_fold("ad&amp;min") == "admin");
    BOOST_TEST(login_fold("\xC3\x84"
                          "dmin") == "admin");
    BOOST_TEST(login_fold("john   smith") == "john smith");
    BOOST_TEST(login_fold("Admin@Example.org") == "admin@example.org");
}

BOOST_AUTO_TEST_CASE(siphash_reference_vectors) {
    NameKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    std::vector<unsigned char> message;
    BOOST_TEST(siphash24(key, message) == 0x726fdb47dd0e0e31ULL);
    for (unsigned char i = 0; i < 15; ++i) {
        message.push_back(i);
    }
    BOOST_TEST(siphash24(key, message) == 0xa129ca6149be45e5ULL);
    NameHasher hash(key);
    BOOST_TEST(hash("Admin") == hash(" admin"));
    BOOST_TEST(hash("admin") != hash("admin2"));
    NameHasher other(NameKey{1, 2});
    BOOST_TEST(other("admin") != hash("admin"));
}

// A plain name (printable ASCII without white space, '<', '%' or '&') takes a short
// path: it must fold and hash exactly as the general one, also at the length cap.
BOOST_AUTO_TEST_CASE(plain_names_fold_and_hash_as_any_other) {
    NameKey key{0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    NameHasher hash(key);
    auto hash_of_fold = [&](std::string_view name) {
        std::string folded = login_fold(name);
        std::uint64_t h = siphash24(
            key, std::span(reinterpret_cast<const unsigned char*>(folded.data()), folded.size()));
        return h == 0 ? 1 : h;
    };
    std::string long_name(kMaxUserName + 20, 'Q');
    const std::string_view names[] = {"Admin",
                                      "a.b-c_d@Example.ORG",
                                      "x>y",
                                      "{}[]~!",
                                      "\"",
                                      "ad min",
                                      "Ad%41min",
                                      "ad&amp;min",
                                      "ad<b>min",
                                      "\xC3\x84"
                                      "dmin",
                                      " admin",
                                      "admin\x0B",
                                      "\x7F",
                                      long_name};
    for (std::string_view name : names) {
        BOOST_TEST(hash(name) == hash_of_fold(name), name);
    }
    BOOST_TEST(login_fold("a.B-c_D@Example.ORG") == "a.b-c_d@example.org");
    BOOST_TEST(login_fold("x>Y") == "x>y");
    BOOST_TEST(login_fold(long_name) == std::string(kOverlongFold));
    BOOST_TEST(hash(long_name) != hash(std::string(kMaxUserName, 'q')));
}

BOOST_AUTO_TEST_CASE(form_log_as_php_parses_it) {
    auto log_of = [](const std::string& body, std::size_t piece) {
        FormLogReader reader;
        for (std::size_t i = 0; i < body.size(); i += piece) {
            reader.feed(std::span(body.data() + i, std::min(piece, body.size() - i)));
        }
        reader.finish();
        return reader.has_log() ? reader.log() : std::string("<none>");
    };
    for (std::size_t piece : {1, 2, 3, 100}) {
        BOOST_TEST(log_of("log=admin&pwd=x&wp-submit=Log+In", piece) == "admin");
        BOOST_TEST(log_of("pwd=x&log=Jo+Smith", piece) == "Jo Smith");
        BOOST_TEST(log_of("%6Cog=ad%6Din&pwd=x", piece) == "admin");
        BOOST_TEST(log_of("log=first&log=second", piece) == "second");
        BOOST_TEST(log_of("log=admin&log[]=x", piece) == "<none>");
        BOOST_TEST(log_of("+log=admin", piece) == "admin");
        BOOST_TEST(log_of("log+=admin", piece) == "<none>");
        BOOST_TEST(log_of("%20log=admin", piece) == "admin");
        BOOST_TEST(log_of("pwd=x", piece) == "<none>");
        BOOST_TEST(log_of("log=a%zzb", piece) == "a%zzb");
    }
}

BOOST_AUTO_TEST_CASE(single_call_user_names) {
    BOOST_TEST(scan(call("wp.getUsersBlogs", p(s("admin")) + p(s("pw")))).user == "admin");
    BOOST_TEST(scan(call("wp.getPosts", p("<int>1</int>") + p(s(" admin ")) + p(s("pw")))).user ==
               "admin");
    BOOST_TEST(
        scan(call("wp.getPage", p("<int>1</int>") + p("<int>2</int>") + p("bob") + p(s("pw"))))
            .user == "bob");
    // An untyped value keeps its text; an <int> is PHP's (int).
    BOOST_TEST(scan(call("wp.getUsersBlogs", p("<int>007</int>") + p(s("pw")))).user == "7");
    // One array parameter is the argument list (IXR_Server::call).
    BOOST_TEST(scan(call("wp.getUsersBlogs",
                         p("<array><data><value>victim</value><value>pw</value></data></array>")))
                   .user == "victim");
    // A struct with PHP integer keys likewise.
    BOOST_TEST(scan(call("wp.getUsersBlogs",
                         p("<struct><member><name>0</name><value>victim</value></member>"
                           "<member><name>1</name><value>pw</value></member></struct>")))
                   .user == "victim");
    // Method name after the parameters; entities.
    std::string late = "<methodCall><params>" + p(s("ad&#109;in")) + p(s("pw")) +
                       "</params><methodName>wp.getUsersBlogs</methodName></methodCall>";
    std::vector<std::string> candidates;
    BOOST_TEST(scan(late, &candidates).user == "admin");
    BOOST_TEST(candidates.size() >= 1);
    BOOST_TEST(scan(call("pingback.ping", p(s("admin")) + p(s("x")))).user == "");
}

BOOST_AUTO_TEST_CASE(multicall_user_names_and_candidates) {
    std::string body = call(
        "system.multicall",
        "<param><value><array><data>" +
            mc("wp.getUsersBlogs", "<value>me</value><value>ok</value>") +
            mc("wp.getPosts", "<value><int>1</int></value><value>Victim</value><value>x</value>") +
            mc("pingback.ping", "<value>a</value><value>b</value>") +
            "</data></array></value></param>");
    for (std::size_t piece : {0, 1, 7}) {
        std::vector<std::string> candidates;
        RequestScan got = scan(body, &candidates, piece);
        BOOST_TEST(got.call_users.size() == 3u);
        BOOST_TEST(got.call_users.at(0) == "me");
        BOOST_TEST(got.call_users.at(1) == "Victim");
        BOOST_TEST(got.call_users.at(2) == "");
        BOOST_TEST((candidates == std::vector<std::string>{"me", "Victim"}));
    }
}

namespace {
struct Region {
    explicit Region(std::size_t capacity)
        : bytes(UserTable::region_size(capacity) + 64), storage(bytes / 8 + 16) {}
    void* base() {
        return reinterpret_cast<void*>((reinterpret_cast<std::uintptr_t>(storage.data()) + 63) &
                                       ~std::uintptr_t{63});
    }
    std::size_t bytes;
    std::vector<std::uint64_t> storage;
};
}  // namespace

BOOST_AUTO_TEST_CASE(table_locks_trusts_and_alarms) {
    Region region(1024);
    auto [table, how] = UserTable::attach(region.base(), region.bytes - 64, 1024);
    BOOST_TEST((how == UserTable::Attach::Formatted));
    auto again = UserTable::attach(region.base(), region.bytes - 64, 1024);
    BOOST_TEST((again.second == UserTable::Attach::Reused));
    auto vhost = table.vhost_slot(42);
    BOOST_REQUIRE(vhost);
    BOOST_TEST(*table.vhost_slot(42) == *vhost);
    BOOST_TEST(*table.vhost_slot(43) != *vhost);
    UserRule rule{600, 3, 900};
    std::int64_t now = 1'800'000'000;
    BOOST_TEST(!table.any_lock(*vhost, now));
    for (int i = 0; i < 3; ++i) {
        auto out = table.record_failure(*vhost, 77, now + i, rule);
        BOOST_TEST(!out.locked);
        BOOST_TEST(out.in_window == static_cast<std::uint32_t>(i + 1));
    }
    auto out = table.record_failure(*vhost, 77, now + 3, rule);
    BOOST_TEST(out.newly_locked);
    BOOST_TEST(table.any_lock(*vhost, now + 3));
    BOOST_TEST(table.locked(*vhost, 77, now + 3));
    BOOST_TEST(!table.locked(*vhost, 78, now + 3));
    BOOST_TEST(!table.locked(*table.vhost_slot(43), 77, now + 3));
    BOOST_TEST(!table.locked(*vhost, 77, now + 3 + 900));
    // Trust.
    Address owner = *Address::parse("198.18.0.7");
    Address other = *Address::parse("198.18.0.8");
    table.trust(*vhost, 77, owner, now, now + 100);
    BOOST_TEST(table.trusted(*vhost, 77, owner, now + 50));
    BOOST_TEST(!table.trusted(*vhost, 77, other, now + 50));
    BOOST_TEST(!table.trusted(*vhost, 77, owner, now + 100));
    BOOST_TEST(table.trusted_until(*vhost, 77, owner, now + 50) == now + 100);
    BOOST_TEST(table.trusted_until(*vhost, 77, other, now + 50) == 0);
    BOOST_TEST(table.trusted_until(*vhost, 77, owner, now + 100) == 0);
    BOOST_TEST(table.locks(now + 10, 10).size() == 1u);
    // Alarm: 5 failures a period at rate 5.
    AlarmRule alarm{5, 10, 0, 10};
    std::int64_t t = 1'800'000'000 / 10 * 10 + 100;
    BOOST_TEST(!table.alarm(*vhost, t, alarm).on);
    for (int i = 0; i < 5; ++i) {
        table.count_failure(*vhost, t + 1, alarm);
    }
    BOOST_TEST(table.alarm(*vhost, t + 2, alarm).on);
    BOOST_TEST(table.set_alarm_flag(*vhost, true));
    BOOST_TEST(!table.set_alarm_flag(*vhost, true));
    BOOST_TEST(!table.alarm(*vhost, t + 25, alarm).on);
    BOOST_TEST(table.set_alarm_flag(*vhost, false));
}

BOOST_AUTO_TEST_CASE(flood_of_names_cannot_evict_a_lock) {
    Region region(64);
    auto [table, how] = UserTable::attach(region.base(), region.bytes - 64, 64);
    (void)how;
    auto vhost = *table.vhost_slot(1);
    UserRule rule{600, 1, 900};
    std::int64_t now = 1'800'000'000;
    table.record_failure(vhost, 5, now, rule);
    BOOST_TEST(table.record_failure(vhost, 5, now, rule).locked);
    for (std::uint64_t name = 100; name < 5000; ++name) {
        table.record_failure(vhost, name, now + 1, rule);
    }
    BOOST_TEST(table.locked(vhost, 5, now + 2));
}

// remove_accents() as sanitize_user() runs it (every character and byte is checked
// against WordPress itself in the parity suite): one case per rule. Octal escapes.
BOOST_AUTO_TEST_CASE(accents_fold_as_wordpress_folds_them) {
    // A UTF-8 name: Latin-1 Supplement, Latin Extended-A and Additional, the euro sign.
    BOOST_TEST(login_fold("\303\201dmin") == "admin");      // U+00C1
    BOOST_TEST(login_fold("\304\200dmin") == "admin");      // U+0100
    BOOST_TEST(login_fold("\341\272\240dmin") == "admin");  // U+1EA0
    BOOST_TEST(login_fold("\305\201e") == "le");            // U+0141
    BOOST_TEST(login_fold("\342\202\2541") == "e1");        // U+20AC
    BOOST_TEST(login_fold("\302\243admin") == "admin");     // U+00A3 goes
    // Not UTF-8 by seems_utf8()'s pattern: every byte read as ISO-8859-1.
    BOOST_TEST(login_fold("\301dmin") == "admin");
    BOOST_TEST(login_fold("\303\201\201dmin") == "a\201\201dmin");
    BOOST_TEST(login_fold("\337e") == "sse");
    // seems_utf8() takes 5-byte patterns; an overlong form is no accented letter.
    BOOST_TEST(login_fold("\370\210\200\200\200\303\201dmin") == "\370\210\200\200\200admin");
    BOOST_TEST(login_fold("\300\200\303\201") == "\300\200a");
}

// wp_strip_all_tags() before strip_tags(): a script or style element goes with its
// content, up to the first closing tag of the same name, any case.
BOOST_AUTO_TEST_CASE(script_and_style_elements_go_with_their_content) {
    BOOST_TEST(login_fold("<script>x</script>admin") == "admin");
    BOOST_TEST(login_fold("ad<STYLE media=x>x\ny</sTyle>min") == "admin");
    BOOST_TEST(login_fold("<script>a</scriptx>b</script>admin") == "admin");
    BOOST_TEST(login_fold("<scripts>x</script>admin") == "admin");
    // No such closing tag: only the tags go.
    BOOST_TEST(login_fold("<script>x</script >admin") == "xadmin");
    BOOST_TEST(login_fold("<script>x</style>admin") == "xadmin");
}

// PHP's strip_tags() state machine, one case per rule (checked against PHP itself on
// 3 000 generated names in the parity suite).
BOOST_AUTO_TEST_CASE(tags_are_stripped_as_php_strips_them) {
    BOOST_TEST(login_fold(std::string("ad\0min", 6)) == "admin");  // NUL bytes go
    BOOST_TEST(login_fold("a< b>dmin") == "a< b>dmin");            // '<' + space is text
    BOOST_TEST(login_fold("ad<a title=\">\">min") == "admin");     // quotes hold '>'
    BOOST_TEST(login_fold("ad<a<b>c>min") == "admin");             // nested '<' waits
    BOOST_TEST(login_fold("ad<b< c>min") == "admin");              // ... unless '<' + space
    BOOST_TEST(login_fold("ad<!-- a > b -->min") == "admin");      // comments to "-->"
    BOOST_TEST(login_fold("x<!a <b> c>admin") == "x c>admin");     // "<!" to the first '>'
    BOOST_TEST(login_fold("x<!doctype <a> b>admin") == "xadmin");  // DOCTYPE as a tag
    BOOST_TEST(login_fold("x<?a(?>)\"?>\"?>admin") == "xadmin");   // "<?" to "?>", parens, quotes
    BOOST_TEST(login_fold("x<?a\\\"?>admin") == "xadmin");         // an escaped quote
    BOOST_TEST(login_fold("x<?xml a-->b>admin") == "xadmin");      // "<?xml" a tag, "->" no end
    BOOST_TEST(login_fold("<?xml>admin").empty());                 // ... but not at the start
    BOOST_TEST(login_fold("?><style<<!---->a?>admin") == "?>a?admin");  // depth outlives "<!--"
}

// Padding a name with what sanitize_user() deletes (octets, tags, entities) reaches the
// account in WordPress however long the padding; the guard cannot fold what it does not
// keep, so every name past kMaxUserName is one name, whose failures lock it like any.
BOOST_AUTO_TEST_CASE(overlong_names_are_one_name) {
    std::string octets;
    for (int i = 0; i < 43; ++i) {
        octets += "%41";
    }
    BOOST_TEST(login_fold(octets + "admin") == std::string(kOverlongFold));
    BOOST_TEST(login_fold(std::string(kMaxUserName, 'a')) == std::string(kMaxUserName, 'a'));
    BOOST_TEST(login_fold(std::string(kMaxUserName + 1, 'a')) == std::string(kOverlongFold));
    BOOST_TEST(login_fold("\0overlong") != std::string(kOverlongFold));  // a NUL is stripped
    NameHasher hash({1, 2});
    BOOST_TEST(hash(octets + "admin") == hash(std::string(300, 'x')));
    BOOST_TEST(hash(octets + "admin") != hash("admin"));
    BOOST_TEST(hash(std::string(kMaxUserName + 1, 'a')) != hash(std::string(kMaxUserName, 'a')));

    // The readers keep one byte past the limit, PHP-trimmed first: white space around a
    // short name never makes it overlong, and anything past the room does.
    std::string spaces(300, ' ');
    for (std::size_t piece : {0, 7}) {
        BOOST_TEST(login_fold(scan(call("wp.getUsersBlogs", p(s(octets + "admin")) + p(s("pw"))),
                                   nullptr, piece)
                                  .user) == std::string(kOverlongFold));
        BOOST_TEST(login_fold(scan(call("wp.getUsersBlogs",
                                        p("&lt;b&gt;" + spaces + octets + "admin") + p(s("pw"))),
                                   nullptr, piece)
                                  .user) == std::string(kOverlongFold));
        BOOST_TEST(scan(call("wp.getUsersBlogs", p(spaces + "admin" + spaces) + p(s("pw"))),
                        nullptr, piece)
                       .user == "admin");
        // <base64> whose text runs past what is kept: its decoded name is overlong.
        std::string junk(300, '!');
        BOOST_TEST(login_fold(scan(call("wp.getUsersBlogs",
                                        p("<base64>" + junk + "YWRtaW4=</base64>") + p(s("pw"))),
                                   nullptr, piece)
                                  .user) == std::string(kOverlongFold));
    }
    auto form_log = [](const std::string& body) {
        FormLogReader reader;
        reader.feed(body);
        reader.finish();
        return reader.log();
    };
    BOOST_TEST(form_log("log=" + std::string(200, '+') + "admin" + std::string(200, '+')) ==
               "admin");
    std::string encoded_octets;  // the form decodes %XX once: %2541 is "%41" for sanitize_user()
    for (int i = 0; i < 43; ++i) {
        encoded_octets += "%2541";
    }
    BOOST_TEST(login_fold(form_log("log=" + encoded_octets + "admin&pwd=x")) ==
               std::string(kOverlongFold));
    BOOST_TEST(login_fold(form_log("log=" + std::string(130, 'a') + std::string(50, '+') +
                                   "&pwd=x")) == std::string(kOverlongFold));
    BOOST_TEST(form_log("log=" + std::string(128, 'a') + std::string(50, '+') + "&pwd=x") ==
               std::string(128, 'a'));
}
