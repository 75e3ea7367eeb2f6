// xmlrpcguardctl: the operator's control of a running mod_xmlrpcguard, through the
// ban helper's control socket (XmlRpcGuardControlSocket). Root or the httpd User.
//
//   xmlrpcguardctl [--socket PATH] status | list | ban ADDR [DURATION] | unban ADDR | flush
//
// Exit status: 0 done, 1 the guard refused (the reason is printed), 2 usage,
// 3 the socket cannot be reached (httpd down, no helper, or not allowed).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

// Debian's DefaultRuntimeDir (${APACHE_RUN_DIR}) and the directive's default name.
constexpr const char* kDefaultSocket = "/var/run/apache2/xmlrpcguard.sock";

int usage() {
    std::fprintf(stderr,
                 "usage: xmlrpcguardctl [--socket PATH] COMMAND\n"
                 "  status               counters and table figures\n"
                 "  list                 active bans, then offenders under the threshold\n"
                 "  ban ADDR [DURATION]  ban now (DURATION: 3600, 45s, 10m, 1h, 1d, 1w;\n"
                 "                       default XmlRpcGuardBanTime)\n"
                 "  unban ADDR           lift a ban in httpd and the kernel at once\n"
                 "  flush                lift every ban\n"
                 "ADDR may be a prefix (198.18.7.0/24, 2001:db8:7::/48) with prefix bans on\n"
                 "The socket: --socket, else $XMLRPCGUARD_SOCKET, else %s\n",
                 kDefaultSocket);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    const char* socket_path = std::getenv("XMLRPCGUARD_SOCKET");
    int first = 1;
    if (argc > 2 && std::string_view(argv[1]) == "--socket") {
        socket_path = argv[2];
        first = 3;
    }
    if (!socket_path || !*socket_path) {
        socket_path = kDefaultSocket;
    }
    if (first >= argc || std::string_view(argv[first]) == "--help" ||
        std::string_view(argv[first]) == "-h") {
        return usage();
    }
    std::string command;
    for (int i = first; i < argc; ++i) {
        if (std::strpbrk(argv[i], " \t\r\n")) {
            std::fprintf(stderr, "xmlrpcguardctl: an argument cannot hold white space\n");
            return 2;
        }
        if (i > first) {
            command += ' ';
        }
        command += argv[i];
    }
    command += "\n";

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (std::strlen(socket_path) >= sizeof address.sun_path) {
        std::fprintf(stderr, "xmlrpcguardctl: socket path too long: %s\n", socket_path);
        return 2;
    }
    std::strcpy(address.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        std::fprintf(stderr,
                     "xmlrpcguardctl: cannot reach %s: %s\n"
                     "(is httpd running with the guard, started as root so that its ban helper "
                     "runs? are you root or the httpd User?)\n",
                     socket_path, std::strerror(errno));
        return 3;
    }
    // The helper may answer (a refusal) and close before reading the command: a
    // failed send is not the end, its answer is still there to read.
    (void)send(fd, command.data(), command.size(), MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    std::string answer;
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof buffer)) > 0) {
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    close(fd);
    std::fwrite(answer.data(), 1, answer.size(), stdout);
    if (answer.empty()) {
        std::fprintf(stderr, "xmlrpcguardctl: no answer from %s\n", socket_path);
        return 3;
    }
    return answer.rfind("ok", 0) == 0 ? 0 : 1;
}
