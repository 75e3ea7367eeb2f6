// The ban helper's loop and control clients, alone: no httpd, a real socket pair for
// the children's channel and a real listening socket for the control clients.
#define BOOST_TEST_MODULE helper_loop
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "control_admission.hpp"
#include "helper_loop.hpp"
#include "test_window_table_support.hpp"
#include "xmlrpcguard/ban_request.hpp"

using namespace xmlrpcguard;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000;

struct RecordedEvents final : HelperEvents {
    std::vector<HelperVerdict> verdicts;
    std::vector<uid_t> refused, dropped;
    std::vector<std::string> commands;
    void message(HelperVerdict verdict, std::string_view) override { verdicts.push_back(verdict); }
    void reconciled(const BanHelper::Reconciled&, std::string_view) override {}
    void control_refused(uid_t uid) override { refused.push_back(uid); }
    void control_command(uid_t, std::string_view command, std::string_view answer) override {
        commands.push_back(std::string(command) + " -> " + std::string(answer));
    }
    void control_dropped(uid_t uid) override { dropped.push_back(uid); }
};

// A listening socket in a fresh directory, and clients for it.
struct ControlSocket {
    std::string dir, path;
    int listener = -1;

    ControlSocket() {
        char pattern[] = "/tmp/xrg-loop-XXXXXX";
        dir = mkdtemp(pattern);
        path = dir + "/control.sock";
        listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_un address = to_address(path);
        BOOST_REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        BOOST_REQUIRE(listen(listener, 16) == 0);
    }
    ~ControlSocket() {
        close(listener);
        unlink(path.c_str());
        rmdir(dir.c_str());
    }
    static sockaddr_un to_address(const std::string& path) {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        return address;
    }
    int connect_client() const {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        timeval patience{5, 0};  // a test that would wait longer fails instead of hanging
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
        sockaddr_un address = to_address(path);
        BOOST_REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        return fd;
    }
};

struct Scene {
    xrg_test::SharedRegion region{WindowTable::region_size(256)};
    WindowTable table = WindowTable::attach(region.base(), region.size(), 256).first;
    RecordingSink sink;
    BanHelper helper{sink, HelperSettings{}};
    ControlService control{table, helper, nullptr, control_settings()};
    ControlSocket socket;
    int channel[2] = {-1, -1};
    RecordedEvents events;
    HelperLoop loop;

    static ControlSettings control_settings() {
        ControlSettings settings;
        settings.rule = WindowRule{3600, 3};
        settings.bantime = 600;
        return settings;
    }

    static HelperLoopSettings settings(int channel_fd, int control_fd) {
        HelperLoopSettings s;
        s.channel_fd = channel_fd;
        s.control_fd = control_fd;
        s.admission.httpd_user = 33;
        s.admission.httpd_group = 33;
        s.client_time = 200ms;
        s.max_clients = 2;
        return s;
    }

    Scene()
        : loop(helper, &control, &table, events, settings(make_channel(channel), socket.listener),
               [] { return kT0; }) {}
    ~Scene() {
        close(channel[0]);
        close(channel[1]);
    }
    static int make_channel(int (&ends)[2]) {
        BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ends) == 0);
        return ends[1];
    }
    void send_ban(const char* address) {
        BanMessage message = encode({*Address::parse(address), 32, 600});
        BOOST_REQUIRE(send(channel[0], message.data(), message.size(), 0) ==
                      static_cast<ssize_t>(message.size()));
    }
};

std::string read_all(int fd) {
    std::string text;
    char buffer[512];
    ssize_t n;
    while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) {
        text.append(buffer, static_cast<std::size_t>(n));
    }
    return text;
}

}  // namespace

BOOST_AUTO_TEST_CASE(admission_is_root_and_the_administrators_never_httpds_user_or_group) {
    ControlAdmission admission{33, 33, std::nullopt};
    BOOST_TEST(admission.admits(0, 0));
    BOOST_TEST(!admission.admits(33, 33));
    BOOST_TEST(!admission.admits(1, 1));  // no administrators' group: root only
    admission.admin_group = 4;
    BOOST_TEST(admission.admits(1, 4));    // primary group is the administrators'
    BOOST_TEST(!admission.admits(33, 4));  // httpd's User, whatever its group
    BOOST_TEST(!admission.admits(1, 33));  // httpd's Group, whatever its other groups
    BOOST_TEST(!admission.admits(1, 1));   // not a member (daemon's groups lack gid 4)
}

BOOST_AUTO_TEST_CASE(silent_control_clients_never_delay_a_ban_and_are_dropped_at_their_deadline) {
    Scene scene;
    int silent = scene.socket.connect_client();
    int another = scene.socket.connect_client();  // the slots are full now
    scene.loop.turn(50ms);
    BOOST_TEST(scene.loop.clients() == 2u);
    scene.send_ban("198.18.9.1");
    auto started = std::chrono::steady_clock::now();
    scene.loop.turn(1000ms);  // the message wakes it at once
    BOOST_TEST(scene.sink.added.size() == 1u);
    BOOST_TEST((std::chrono::steady_clock::now() - started < 150ms));
    for (int i = 0; i < 50 && scene.loop.clients() > 0; ++i) {
        scene.loop.turn(100ms);
    }
    BOOST_TEST(scene.loop.clients() == 0u);
    BOOST_TEST(scene.events.dropped.size() == 2u);
    BOOST_TEST(read_all(silent).empty());
    close(silent);
    close(another);
}

BOOST_AUTO_TEST_CASE(a_command_is_executed_and_reported_as_parsed) {
    Scene scene;
    int client = scene.socket.connect_client();
    std::string line = "   ban\t198.18.9.7    10m  \n";
    BOOST_REQUIRE(send(client, line.data(), line.size(), 0) == static_cast<ssize_t>(line.size()));
    for (int i = 0; i < 5 && scene.events.commands.empty(); ++i) {
        scene.loop.turn(100ms);
    }
    shutdown(client, SHUT_WR);
    for (int i = 0; i < 5 && scene.loop.clients() > 0; ++i) {
        scene.loop.turn(100ms);
    }
    BOOST_TEST(read_all(client).rfind("ok banned 198.18.9.7", 0) == 0u);
    BOOST_REQUIRE(scene.events.commands.size() == 1u);
    BOOST_TEST(scene.events.commands[0].rfind("ban 198.18.9.7 10m -> ok banned", 0) == 0u);
    BOOST_TEST(scene.table.banned(*Address::parse("198.18.9.7"), kT0));
    close(client);
}

BOOST_AUTO_TEST_CASE(a_line_that_reads_otherwise_is_logged_as_what_ran) {
    for (const char* line : {" flush", "flush\r", "ban 198.18.9.7 1h extra", "bananas"}) {
        ControlCommand command = ControlCommand::parse(line);
        BOOST_TEST_CONTEXT(line) {
            if (command.verb == ControlCommand::Verb::Invalid) {
                BOOST_TEST(!command.changes_state());
                BOOST_TEST(command.to_string() == "invalid");
            } else {
                BOOST_TEST(command.to_string() == "flush");
            }
        }
    }
    BOOST_TEST(ControlCommand::parse("ban 198.18.9.7\x1b[2J 1h").to_string() ==
               "ban 198.18.9.7?[2J 1h");  // nothing unprintable reaches the log
}

// The cluster's hook (XmlRpcGuardCluster): datagrams it claims, its descriptor, and the
// operator's commands once executed; every other datagram is the helper's as before.
struct RecordingExtension final : HelperExtension {
    int ready[2] = {-1, -1};
    std::vector<std::size_t> datagrams;
    int readies = 0;
    std::vector<std::string> commands;

    RecordingExtension() { BOOST_REQUIRE(pipe(ready) == 0); }
    ~RecordingExtension() {
        close(ready[0]);
        close(ready[1]);
    }
    bool on_datagram(std::span<const std::byte> datagram, std::int64_t) override {
        if (datagram.size() != 40) {
            return false;
        }
        datagrams.push_back(datagram.size());
        return true;
    }
    int poll_fd() const override { return ready[0]; }
    bool on_ready(std::int64_t) override {
        char byte;
        BOOST_REQUIRE(read(ready[0], &byte, 1) == 1);
        ++readies;
        return false;
    }
    void on_command(const ControlCommand& command, std::string_view answer, std::int64_t) override {
        commands.push_back(command.to_string() + " -> " + std::string(answer.substr(0, 2)));
    }
};

BOOST_AUTO_TEST_CASE(an_extension_gets_its_datagrams_its_descriptor_and_the_commands) {
    Scene scene;
    RecordingExtension extension;
    scene.loop.set_extension(&extension);
    std::byte report[40] = {};
    BOOST_REQUIRE(send(scene.channel[0], report, sizeof report, 0) == 40);
    scene.send_ban("198.18.3.1");
    BOOST_REQUIRE(write(extension.ready[1], "x", 1) == 1);
    scene.loop.turn(100ms);
    BOOST_TEST(extension.datagrams.size() == 1u);
    BOOST_TEST(extension.readies == 1);
    BOOST_TEST(scene.sink.added.size() == 1u);  // the ban message still reached the helper
    int client = scene.socket.connect_client();
    const char line[] = "unban 198.18.3.1\n";
    BOOST_REQUIRE(send(client, line, sizeof line - 1, 0) == static_cast<ssize_t>(sizeof line - 1));
    for (int i = 0; i < 10 && extension.commands.empty(); ++i) {
        scene.loop.turn(20ms);
    }
    close(client);
    BOOST_REQUIRE(extension.commands.size() == 1u);
    BOOST_TEST(extension.commands[0] == "unban 198.18.3.1 -> ok");
}
