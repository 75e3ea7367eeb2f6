"""The privileged helper and the kernel: ipset entries and the one DROP rule.

Everything happens in the test's own server namespace (sets, rules, httpd) and
client namespace; deleting the namespaces at the end takes the sets and rules away.
"""

import ctypes
import datetime
import ipaddress
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import unittest

from netns import wait_until
from xrg_harness import (Client, GuardedServer, assert_dropped_by_kernel, count_lines, login_call,
                         skip_unless_ready)

SOURCE_DIR = os.environ.get("XRG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FIREWALL = os.path.join(SOURCE_DIR, "tools", "xmlrpcguard-firewall")

GUARDED = "guarded.test"
SHORT = "short.test"  # bans of three seconds, to watch the kernel expire them
# Address bans one by one: these cases ban many addresses of 198.18.1.0/24 on purpose,
# which prefix bans (test_prefix_bans.py) would fold into one.
VHOSTS = {
    GUARDED: "XmlRpcGuard On\nXmlRpcGuardPrefixBan Off",
    SHORT: "XmlRpcGuard On\nXmlRpcGuardBanTime 3",
}
MAIN = "XmlRpcGuardIgnoreIP 198.18.4.1"
LOG_TIME = re.compile(r"^\[\w{3} (\w{3} \d+ [\d:.]+ \d{4})\]")


def install_firewall(server):
    server.net.run(server.net.server, [FIREWALL, "install"])


def log_time(line):
    """The microsecond timestamp httpd puts at the head of an error_log line."""
    return datetime.datetime.strptime(LOG_TIME.match(line).group(1), "%b %d %H:%M:%S.%f %Y")


def ban_message(address, seconds=600, prefix=None):
    """One message of the children's channel to the helper, as the module encodes it
    (include/xmlrpcguard/ban_request.hpp): magic, version, prefix, zero, seconds (little
    endian), the 16-byte address (IPv4 mapped into IPv6), zero."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        packed, prefix = ipaddress.IPv6Address(f"::ffff:{ip}").packed, 32
    else:
        packed, prefix = ip.packed, prefix or 64
    return b"XRGB" + bytes([1, prefix, 0, 0]) + struct.pack("<I", seconds) + packed + bytes(4)


def take_fd(pid, fd):
    """A duplicate of process `pid`'s file descriptor `fd` (pidfd_getfd(2); root)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        taken = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd, the same number on every arch
        if taken < 0:
            raise OSError(ctypes.get_errno(), f"pidfd_getfd({pid}, {fd})")
        return taken
    finally:
        os.close(pidfd)


def children_channel(parent, helpers):
    """The sending end of the ban helper's socket pair, taken from an httpd child of
    `parent` (not a helper): the one AF_UNIX datagram socket such a child holds."""
    children = [int(c) for c in open(f"/proc/{parent}/task/{parent}/children").read().split()]
    # Newest first: a child left from a generation before a graceful restart holds the
    # old channel, whose helper is gone.
    started = {c: int(open(f"/proc/{c}/stat").read().rsplit(")", 1)[1].split()[19]) for c in children}
    for child in sorted((c for c in children if c not in helpers), key=started.get, reverse=True):
        found = []
        for name in os.listdir(f"/proc/{child}/fd"):
            try:
                if not os.readlink(f"/proc/{child}/fd/{name}").startswith("socket:"):
                    continue
                sock = socket.socket(fileno=take_fd(child, int(name)))
            except OSError:
                continue
            if sock.family == socket.AF_UNIX and sock.type == socket.SOCK_DGRAM:
                found.append(sock)
            else:
                sock.close()
        if len(found) == 1:
            return found[0]
        for sock in found:
            sock.close()
    raise AssertionError(f"no httpd child of {parent} holds exactly one datagram socket")


class KernelBanSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.server = GuardedServer("kern", "fpm", VHOSTS, MAIN, prepare=install_firewall)
        cls.net = cls.server.net
        cls.hosts = iter(range(10, 250))
        wait_until(lambda: cls.helper_pids(), timeout=10, what="ban helper ready")

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    @classmethod
    def helper_pids(cls):
        return [int(p) for p in re.findall(r"XRG0204: ban helper (\d+) ready", cls.server.log())]

    def setUp(self):
        self.client = Client(self.net)
        self.addCleanup(self.client.close, self.net)

    # -- helpers --
    def addr(self, v6_network=None):
        host = next(self.hosts)
        address = f"{v6_network}{host:x}" if v6_network else f"198.18.2.{host}"
        self.net.add_client_address(address)
        return address

    def in_set(self, address, set_name="xmlrpcguard"):
        probe = self.net.run(self.net.server, ["ipset", "test", set_name, address], check=False)
        return probe.returncode == 0

    def reachable(self, src, vhost=GUARDED, timeout=1.5):
        """A new TCP connection from src: the answer, or None if it did not open in time."""
        host = "2001:db8::1" if ":" in src else "198.18.0.1"
        self.client.send(method="GET", path="/index.html", src=src, vhost=vhost, host=host,
                         timeout=timeout)
        event = self.client.next_event()
        if "error" in event:
            self.assertEqual(event["error"], "connect timed out")
            return None
        return event

    def assert_dropped(self, banned, alive, vhost=GUARDED):
        assert_dropped_by_kernel(self, self.net, banned, alive, vhost)

    def offend(self, src, times=3, vhost=GUARDED):
        host = "2001:db8::1" if ":" in src else "198.18.0.1"
        for _ in range(times):
            answer = self.client.request(method="POST", path="/xmlrpc.php", body=login_call("wrong"),
                                         src=src, vhost=vhost, host=host,
                                         headers={"Content-Type": "text/xml"})
            self.assertIn("<int>403</int>", answer["body"])

    # -- cases --
    def test_a_banned_address_is_dropped_by_the_kernel_and_others_are_not(self):
        bad, good = self.addr(), self.addr()
        self.offend(bad)
        wait_until(lambda: self.in_set(bad), timeout=5, what="ban in the kernel set")
        self.assert_dropped(bad, good)
        self.assertFalse(self.in_set(good))

    def test_the_kernel_ban_follows_the_offending_answer_within_milliseconds(self):
        delays = []
        for _ in range(5):
            src = self.addr()
            self.offend(src)
            wait_until(lambda: self.in_set(src), timeout=5, what="ban in the kernel set")
        lines = self.server.log().splitlines()
        bans = [l for l in lines if "XRG0102: ban " in l]
        adds = [l for l in lines if "XRG0214: kernel ban added" in l]
        for ban in bans[-5:]:
            after = [log_time(a) for a in adds if log_time(a) >= log_time(ban)]
            self.assertTrue(after, "every ban reaches the helper")
            delays.append((min(after) - log_time(ban)).total_seconds() * 1000)
        print(f"\nban decision -> kernel entry: median {statistics.median(delays):.3f} ms, "
              f"max {max(delays):.3f} ms over {len(delays)} bans")
        # Measured: a median of 0.2 ms, at most 0.6 ms; the bounds leave room for a
        # busy 2-core machine, and still fail a helper that waits for its next poll
        # timeout (1 s) or reconcile round instead of the message.
        self.assertLess(statistics.median(delays), 10.0, delays)
        self.assertLess(max(delays), 100.0, delays)

    def test_a_short_ban_expires_in_the_kernel_and_the_address_comes_back(self):
        src = self.addr()
        self.offend(src, vhost=SHORT)
        wait_until(lambda: self.in_set(src), timeout=5, what="ban in the kernel set")
        self.assert_dropped(src, self.addr(), SHORT)
        wait_until(lambda: not self.in_set(src), timeout=10, what="kernel expiry")
        answer = wait_until(lambda: self.reachable(src, SHORT), timeout=10, what="let back in")
        self.assertEqual(answer["status"], 200)

    def test_an_ipv6_offender_bans_its_whole_slash_64(self):
        offender = self.addr("2001:db8:1::")
        neighbour = self.addr("2001:db8:1::")
        stranger = self.addr("2001:db8:2::")
        self.offend(offender)
        wait_until(lambda: self.in_set(offender, "xmlrpcguard6"), timeout=5, what="IPv6 ban")
        self.assertTrue(self.in_set(neighbour, "xmlrpcguard6"))
        self.assert_dropped(neighbour, stranger)
        listing = self.net.run(self.net.server, ["ipset", "list", "xmlrpcguard6"]).stdout
        self.assertIn("2001:db8:1::/64 timeout", listing)

    def test_a_killed_helper_is_restarted_and_puts_the_bans_back(self):
        src = self.addr()
        self.offend(src)
        wait_until(lambda: self.in_set(src), timeout=5, what="ban in the kernel set")
        # The kernel loses the entries (an operator's flush, a reboot of the set)...
        self.net.run(self.net.server, ["ipset", "flush", "xmlrpcguard"])
        self.assertFalse(self.in_set(src))
        # ...and the helper is killed: its replacement reconciles from the table.
        before = self.helper_pids()
        os.kill(before[-1], signal.SIGKILL)
        wait_until(lambda: len(self.helper_pids()) > len(before), timeout=10, what="helper restart")
        self.assertIn("XRG0213", self.server.log())
        wait_until(lambda: self.in_set(src), timeout=5, what="ban re-added from the table")

    def test_graceful_restart_keeps_the_kernel_set_and_the_table_in_agreement(self):
        src, fresh = self.addr(), self.addr()
        self.offend(src)
        wait_until(lambda: self.in_set(src), timeout=5, what="ban in the kernel set")
        helpers = len(self.helper_pids())
        self.server.graceful()
        wait_until(lambda: len(self.helper_pids()) > helpers, timeout=10, what="new helper")
        self.assertTrue(self.in_set(src))
        self.assert_dropped(src, fresh)
        # The table kept the ban too: with the entry taken out of the kernel by hand
        # (the helper leaves such an operator's choice alone), httpd still says 403.
        self.net.run(self.net.server, ["ipset", "del", "xmlrpcguard", src])
        self.assertEqual(self.reachable(src)["status"], 403)
        self.assertEqual(self.reachable(fresh)["status"], 200)

    def test_an_ignored_address_is_never_counted_so_never_banned(self):
        # httpd itself never counts it, so no ban of it ever reaches the helper; the
        # helper's own refusal is the next test's.
        self.net.add_client_address("198.18.4.1")
        self.offend("198.18.4.1")
        self.assertEqual(count_lines(self.server.log(), "client=198.18.4.1 "), 0)
        self.assertFalse(self.in_set("198.18.4.1"))
        self.assertEqual(self.reachable("198.18.4.1")["status"], 200)

    def test_the_helper_refuses_a_crafted_ban_of_a_protected_address_on_the_childrens_channel(self):
        # What a subverted httpd child could send: the very channel the children use,
        # taken from a running child. A well-formed ban of an ordinary address is
        # obeyed (the channel is the right one); a ban of the server-wide ignored
        # address, of loopback, and a malformed message are refused and logged.
        ordinary = self.addr()
        before = self.server.log()
        channel = children_channel(self.server.httpd.process.pid, self.helper_pids())
        with channel:
            channel.send(ban_message("198.18.4.1"))
            channel.send(ban_message("127.0.0.1"))
            channel.send(ban_message("198.18.4.1")[:31])
            channel.send(ban_message(ordinary))
        wait_until(lambda: self.in_set(ordinary), timeout=5, what="the ordinary ban from the channel")
        log = self.server.log()[len(before):]
        self.assertEqual(count_lines(log, "XRG0206: ban of a protected address"), 2, log)
        self.assertEqual(count_lines(log, "XRG0205: malformed message to the ban helper"), 1, log)
        self.assertEqual(count_lines(log, "XRG0214: kernel ban added"), 1, log)
        self.assertFalse(self.in_set("198.18.4.1"))
        self.assertFalse(self.in_set("127.0.0.1"))
        listing = self.net.run(self.net.server, ["ipset", "list", "xmlrpcguard"]).stdout
        self.assertNotIn("198.18.4.1 ", listing)
        self.assertNotIn("127.0.0.1 ", listing)


class UnprivilegedStartSuite(unittest.TestCase):
    """httpd started by an ordinary user: no helper, a warning, in-process 403s."""

    def test_in_process_deny_only_with_a_warning(self):
        skip_unless_ready()
        server = GuardedServer("unpriv", "fpm", {GUARDED: "XmlRpcGuard On"}, "",
                               prepare=self.run_as_www_data)
        try:
            wait_until(lambda: "XRG0201" in server.log(), timeout=10, what="the warning")
            self.assertNotIn("XRG0204", server.log())
            client = Client(server.net)
            server.net.add_client_address("198.18.2.250")
            for _ in range(3):
                client.post("/xmlrpc.php", login_call("wrong"), "198.18.2.250", GUARDED)
            self.assertEqual(client.get("/index.html", "198.18.2.250", GUARDED)["status"], 403)
            client.close(server.net)
            self.assertEqual(count_lines(server.log(), "XRG0102: ban client=198.18.2.250 "), 1)
        finally:
            server.close()

    @staticmethod
    def run_as_www_data(server):
        net = server.net
        net.run(net.server, ["sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0"])
        subprocess.run(["chown", "-R", "www-data:www-data", server.workdir], check=True)
        httpd = server.httpd
        original_start = httpd.start

        def start_unprivileged():
            argv = ["setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups",
                    "apache2", "-f", httpd.conf, "-DFOREGROUND"]
            httpd.process = net.start(net.server, argv, start_new_session=True)
            wait_until(lambda: httpd.generations() >= 1 or httpd.process.poll() is not None,
                       timeout=15, what="apache2 start")
            if httpd.process.poll() is not None:
                raise RuntimeError("apache2 did not start:\n" + httpd.read_error_log())

        httpd.start = start_unprivileged
        del original_start


if __name__ == "__main__":
    unittest.main()
