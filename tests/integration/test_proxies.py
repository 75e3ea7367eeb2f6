"""Behind a reverse proxy or CDN: a front apache2 with mod_proxy_http (no guard) in the
client namespace, on an address of its own, forwards to the guarded server as a remote
proxy would (X-Forwarded-For appended, Host kept). Each of the front's vhosts connects
from its own source address, so one front plays several proxies:

  plain.test      no mod_remoteip: the proxy is the only client the guard sees
  ignoring.test   no mod_remoteip, the proxy's address in XmlRpcGuardIgnoreIP
  remoteip.test   mod_remoteip trusts the proxy (RemoteIPHeader X-Forwarded-For)
  kerneloff.test  XmlRpcGuardKernelBan Off (reached directly)

The server runs with the kernel's DROP rule, so what reaches the kernel set is seen.
"""

import json
import os
import re
import sys
import time
import unittest

from netns import SERVER_V4, wait_until
from test_kernel_bans import install_firewall
from xrg_harness import (Client, FrontProxy, GuardedServer, assert_dropped_by_kernel, count_lines,
                         login_call, skip_unless_ready)

REMOTEIP_MODULE = "/usr/lib/apache2/modules/mod_remoteip.so"
FRONT = "198.18.9.1"           # where clients reach the front proxy
PEER_PROXY = "198.18.9.2"      # the front's source address towards plain.test
IGNORED_PROXY = "198.18.9.3"   # ... towards ignoring.test
TRUSTED_PROXY = "198.18.9.4"   # ... towards remoteip.test
STATUS = "/guard-status"

PLAIN, IGNORING, REMOTEIP, KERNEL_OFF = "plain.test", "ignoring.test", "remoteip.test", "kerneloff.test"
VHOSTS = {
    PLAIN: "XmlRpcGuard On",
    IGNORING: f"XmlRpcGuard On\nXmlRpcGuardIgnoreIP {IGNORED_PROXY}",
    REMOTEIP: f"XmlRpcGuard On\nRemoteIPHeader X-Forwarded-For\nRemoteIPInternalProxy {TRUSTED_PROXY}",
    KERNEL_OFF: "XmlRpcGuard On\nXmlRpcGuardKernelBan Off",
}
MAIN = f"<Location {STATUS}>\n  SetHandler xmlrpcguard-status\n</Location>"
ROUTES = {PLAIN: PEER_PROXY, IGNORING: IGNORED_PROXY, REMOTEIP: TRUSTED_PROXY}
# The ban helper re-adds from the shared table every second: an address that stays out
# of the kernel set for this long stayed out across two of its passes.
HELPER_PASSES = 2.5
LOG_PID = re.compile(r"\[pid (\d+)")


class ProxySuite(unittest.TestCase):
    _last_host = 19

    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        if not os.path.exists(REMOTEIP_MODULE):
            raise RuntimeError(f"{REMOTEIP_MODULE} is missing (Debian's apache2 ships it)")
        cls.server = GuardedServer("prox", "fpm", VHOSTS, MAIN, prepare=install_firewall,
                                   extra_modules=[("remoteip", REMOTEIP_MODULE)])
        cls.net = cls.server.net
        try:
            wait_until(lambda: "XRG0204: ban helper" in cls.server.log(), timeout=10,
                       what="ban helper ready")
            cls.front = FrontProxy(cls.net, FRONT, ROUTES)
        except BaseException:
            cls.server.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.front.close()
        cls.server.close()

    def setUp(self):
        self.client = Client(self.net)
        self.addCleanup(self.client.close, self.net)
        seen = len(self.front.read_error_log())
        self.addCleanup(self.show_front_errors, seen)

    def show_front_errors(self, seen):
        """What the front proxy logged during the case (LogLevel warn: its 5xx causes), so
        that a 502 where the case wanted a 403 says why, in the run's output."""
        new = self.front.read_error_log()[seen:]
        if new.strip():
            sys.stderr.write(f"front proxy error log during {self.id()}:\n{new}")

    # -- helpers --
    def addr(self):
        cls = type(self)
        cls._last_host += 1
        address = f"198.18.9.{cls._last_host}"
        self.net.add_client_address(address)
        return address

    def via_front(self, vhost, src, method="GET", **extra):
        """A request from src to the front proxy, which forwards it to the server."""
        if method == "POST":
            return self.post(src, vhost, host=FRONT, **extra)
        return self.client.get("/index.html", src, vhost, host=FRONT)

    def post(self, src, vhost, password="wrong", host=SERVER_V4, headers=None):
        return self.client.request(method="POST", path="/xmlrpc.php", body=login_call(password),
                                   src=src, vhost=vhost, host=host,
                                   headers={"Content-Type": "text/xml", **(headers or {})})

    def wrong_passwords(self, src, vhost, times=3, direct=False, headers=None):
        for _ in range(times):
            answer = self.post(src, vhost, host=SERVER_V4 if direct else FRONT, headers=headers)
            self.assertEqual(answer["status"], 200, answer)
            self.assertIn("<int>403</int>", answer["body"])

    def counters(self):
        viewer = getattr(type(self), "_viewer", None)
        if viewer is None:
            viewer = type(self)._viewer = self.addr()
        answer = self.client.get(STATUS + "?json", viewer, PLAIN)
        self.assertEqual(answer["status"], 200, answer)
        return json.loads(answer["body"])["counters"]

    def in_set(self, address):
        probe = self.net.run(self.net.server, ["ipset", "test", "xmlrpcguard", address], check=False)
        return probe.returncode == 0

    def assert_stays_out_of_kernel(self, *addresses):
        deadline = time.monotonic() + HELPER_PASSES
        while time.monotonic() < deadline:
            present = [a for a in addresses if self.in_set(a)]
            self.assertEqual(present, [], "in the kernel set, though no ban message was sent for "
                             "it: " + ", ".join(present) + " (the ban helper's reconcile must "
                             "skip httpd-only bans)")
            time.sleep(0.05)  # an absence watched over two reconcile passes: nothing to poll for

    def assert_denied_by_httpd(self, src, vhost):
        """A direct connection from src opens (the kernel lets it in) and httpd says 403."""
        answer = self.client.request(method="GET", path="/index.html", src=src, vhost=vhost,
                                     timeout=3)
        self.assertEqual(answer["status"], 403, answer)

    # -- without mod_remoteip --
    def test_without_remoteip_the_proxy_is_the_client_and_its_ban_darkens_the_site(self):
        # What a remote proxy does to an unprepared guard: every offence of a client
        # behind it counts against the proxy, whose ban then drops everyone behind it.
        attacker, bystander = self.addr(), self.addr()
        self.wrong_passwords(attacker, PLAIN)
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0101: offence", f"client={PEER_PROXY} ", f"vhost={PLAIN}"), 3)
        self.assertEqual(count_lines(log, f"client={attacker} "), 0)
        self.assertEqual(count_lines(log, f"XRG0102: ban client={PEER_PROXY} "), 1)
        wait_until(lambda: self.in_set(PEER_PROXY), timeout=5, what="the proxy's ban in the kernel set")
        answer = self.via_front(PLAIN, bystander)
        self.assertIn(answer["status"], (502, 503, 504), answer)

    def test_an_ignored_proxy_counts_nobody_and_the_log_says_probably_behind_a_proxy(self):
        before = self.counters()["posts_from_ignored_peers"]
        attacker = self.addr()
        self.wrong_passwords(attacker, IGNORING, times=4)
        self.assertEqual(self.via_front(IGNORING, attacker)["status"], 200)
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0101", f"vhost={IGNORING}"), 0)
        said = [line for line in log.splitlines() if "XRG0111:" in line]
        self.assertTrue(said, "no XRG0111 line")
        for line in said:
            self.assertIn(f"peer {IGNORED_PROXY},", line)
            self.assertIn(f"vhost={IGNORING} is probably behind a proxy", line)
            self.assertIn("mod_remoteip", line)
            self.assertIn("XmlRpcGuardKernelBan Off", line)
        pids = [LOG_PID.search(line).group(1) for line in said]
        self.assertEqual(len(pids), len(set(pids)), f"more than one XRG0111 in a child: {said}")
        self.assertEqual(self.counters()["posts_from_ignored_peers"] - before, 4)
        viewer = type(self)._viewer
        html = self.client.get(STATUS, viewer, PLAIN)["body"]
        self.assertRegex(html, r"<b>\d+</b> guarded POSTs came from a loopback or ignored peer")

    # -- with mod_remoteip trusting the proxy --
    def test_behind_remoteip_the_real_client_is_counted_and_denied_and_the_proxy_keeps_serving(self):
        attacker, other = self.addr(), self.addr()
        before = self.counters()
        self.wrong_passwords(attacker, REMOTEIP)
        # Denied per its real address, in httpd...
        self.assertEqual(self.via_front(REMOTEIP, attacker)["status"], 403)
        self.assertEqual(self.via_front(REMOTEIP, attacker, "POST", password="right")["status"], 403)
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0101: offence", f"client={attacker} ", f"vhost={REMOTEIP}"), 3)
        self.assertEqual(count_lines(log, f"client={TRUSTED_PROXY} "), 0)
        self.assertEqual(count_lines(log, f"XRG0102: ban client={attacker} "), 1)
        self.assertEqual(count_lines(log, "XRG0110: ban kept in httpd only", f"client={attacker} ",
                                     f"peer={TRUSTED_PROXY} ", "because=forwarded"), 1)
        after = self.counters()
        self.assertEqual(after["bans_forwarded_httpd_only"] - before["bans_forwarded_httpd_only"], 1)
        self.assertEqual(after["bans"] - before["bans"], 1)
        self.assertEqual(after["helper_messages_sent"], before["helper_messages_sent"])
        # ... while the proxy keeps serving everyone else, and is never in the kernel set.
        self.assertEqual(self.via_front(REMOTEIP, other)["status"], 200)
        self.wrong_passwords(other, REMOTEIP, times=1)
        self.assert_stays_out_of_kernel(TRUSTED_PROXY)
        self.assertEqual(self.via_front(REMOTEIP, other)["status"], 200)
        html = self.client.get(STATUS, type(self)._viewer, PLAIN)["body"]
        self.assertRegex(html, r"<b>\d+</b> bans kept in httpd only \(403\), never in the kernel set")

    def test_behind_remoteip_a_forwarded_ban_never_reaches_the_kernel_set(self):
        attacker = self.addr()
        self.wrong_passwords(attacker, REMOTEIP)
        self.assertEqual(self.via_front(REMOTEIP, attacker)["status"], 403)
        self.assert_stays_out_of_kernel(attacker, TRUSTED_PROXY)
        self.assert_denied_by_httpd(attacker, REMOTEIP)

    def test_a_header_forged_through_the_trusted_proxy_still_names_the_real_client(self):
        # The proxy appends the address it saw; mod_remoteip reads from the right and
        # stops at the first address it does not trust.
        attacker, forged = self.addr(), "198.18.9.250"
        self.wrong_passwords(attacker, REMOTEIP, headers={"X-Forwarded-For": forged})
        log = self.server.log()
        self.assertEqual(count_lines(log, f"XRG0102: ban client={attacker} "), 1)
        self.assertEqual(count_lines(log, f"client={forged} "), 0)
        self.assertEqual(self.via_front(REMOTEIP, attacker)["status"], 403)

    def test_a_forged_header_from_an_untrusted_peer_is_ignored_and_the_peer_is_dropped(self):
        peer, forged = self.addr(), "198.18.9.251"
        self.wrong_passwords(peer, REMOTEIP, direct=True,
                             headers={"X-Forwarded-For": forged})
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0101: offence", f"client={peer} "), 3)
        self.assertEqual(count_lines(log, f"XRG0102: ban client={peer} "), 1)
        self.assertEqual(count_lines(log, f"client={forged} "), 0)
        self.assertEqual(count_lines(log, "XRG0110", f"client={peer} "), 0)
        wait_until(lambda: self.in_set(peer), timeout=5, what="the peer's ban in the kernel set")
        assert_dropped_by_kernel(self, self.net, peer, self.addr(), REMOTEIP)
        self.assertFalse(self.in_set(forged))

    # -- XmlRpcGuardKernelBan Off --
    def test_kernel_ban_off_bans_in_httpd_and_sends_the_helper_nothing(self):
        attacker = self.addr()
        before = self.counters()
        self.wrong_passwords(attacker, KERNEL_OFF, direct=True)
        self.assert_denied_by_httpd(attacker, KERNEL_OFF)
        log = self.server.log()
        self.assertEqual(count_lines(log, f"XRG0102: ban client={attacker} "), 1)
        self.assertEqual(count_lines(log, "XRG0110: ban kept in httpd only", f"client={attacker} ",
                                     "because=kernel_ban_off"), 1)
        after = self.counters()
        self.assertEqual(after["bans_kernel_off_httpd_only"] - before["bans_kernel_off_httpd_only"], 1)
        self.assertEqual(after["helper_messages_sent"], before["helper_messages_sent"])

    def test_kernel_ban_off_a_ban_never_reaches_the_kernel_set(self):
        attacker = self.addr()
        self.wrong_passwords(attacker, KERNEL_OFF, direct=True)
        self.assert_stays_out_of_kernel(attacker)
        self.assert_denied_by_httpd(attacker, KERNEL_OFF)


if __name__ == "__main__":
    unittest.main()
