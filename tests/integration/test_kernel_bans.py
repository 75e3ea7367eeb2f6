"""The privileged helper and the kernel: ipset entries and the one DROP rule.

Everything happens in the test's own server namespace (sets, rules, httpd) and
client namespace; deleting the namespaces at the end takes the sets and rules away.
"""

import datetime
import os
import re
import signal
import statistics
import subprocess
import unittest

from netns import wait_until
from xrg_harness import Client, GuardedServer, count_lines, login_call, skip_unless_ready

SOURCE_DIR = os.environ.get("XRG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FIREWALL = os.path.join(SOURCE_DIR, "tools", "xmlrpcguard-firewall")

GUARDED = "guarded.test"
SHORT = "short.test"  # bans of three seconds, to watch the kernel expire them
VHOSTS = {
    GUARDED: "XmlRpcGuard On",
    SHORT: "XmlRpcGuard On\nXmlRpcGuardBanTime 3",
}
MAIN = "XmlRpcGuardIgnoreIP 198.18.4.1"
LOG_TIME = re.compile(r"^\[\w{3} (\w{3} \d+ [\d:.]+ \d{4})\]")


def install_firewall(server):
    server.net.run(server.net.server, [FIREWALL, "install"])


def log_time(line):
    """The microsecond timestamp httpd puts at the head of an error_log line."""
    return datetime.datetime.strptime(LOG_TIME.match(line).group(1), "%b %d %H:%M:%S.%f %Y")


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
        """A new TCP connection from src: the answer, or None if it timed out (dropped)."""
        host = "2001:db8::1" if ":" in src else "198.18.0.1"
        self.client.send(method="GET", path="/index.html", src=src, vhost=vhost, host=host,
                         timeout=timeout)
        event = self.client.next_event()
        if "error" in event:
            self.assertIn("timed out", event["error"])
            return None
        return event

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
        self.assertIsNone(self.reachable(bad), "a banned address must not even connect")
        self.assertEqual(self.reachable(good)["status"], 200)
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
        # A measurement for docs/BENCHMARKS.md, not an assertion on time.
        print(f"\nban decision -> kernel entry: median {statistics.median(delays):.3f} ms, "
              f"max {max(delays):.3f} ms over {len(delays)} bans")

    def test_a_short_ban_expires_in_the_kernel_and_the_address_comes_back(self):
        src = self.addr()
        self.offend(src, vhost=SHORT)
        wait_until(lambda: self.in_set(src), timeout=5, what="ban in the kernel set")
        self.assertIsNone(self.reachable(src, SHORT))
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
        self.assertIsNone(self.reachable(neighbour))
        self.assertEqual(self.reachable(stranger)["status"], 200)
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
        self.assertIsNone(self.reachable(src))
        # The table kept the ban too: with the entry taken out of the kernel by hand
        # (the helper leaves such an operator's choice alone), httpd still says 403.
        self.net.run(self.net.server, ["ipset", "del", "xmlrpcguard", src])
        self.assertEqual(self.reachable(src)["status"], 403)
        self.assertEqual(self.reachable(fresh)["status"], 200)

    def test_protected_addresses_never_reach_the_kernel(self):
        self.net.add_client_address("198.18.4.1")
        self.offend("198.18.4.1")
        self.assertFalse(self.in_set("198.18.4.1"))
        self.assertEqual(self.reachable("198.18.4.1")["status"], 200)


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
