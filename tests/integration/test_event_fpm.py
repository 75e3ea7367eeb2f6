"""event MPM + mod_proxy_fcgi + PHP-FPM: the whole behaviour of the guard, plus what
only needs checking once (DetectOnly, ignore lists, per-vhost thresholds, IPv6
prefixes, encoded answers, path spellings, graceful restarts, and through the test
backend mod_xrg_held_answer an answer cut off because its client was banned while it
was under way)."""

import os
import re
import unittest

from guard_cases import GUARDED, GuardCases, ban_line
from netns import wait_until
from xrg_harness import Client, GuardedServer, call, count_lines, login_call, skip_unless_ready

VHOSTS = {
    GUARDED: "XmlRpcGuard On",
    "strict.test": "XmlRpcGuard On\nXmlRpcGuardMaxRetry 2\nXmlRpcGuardFindTime 10m",
    "detect.test": "XmlRpcGuard DetectOnly\nXmlRpcGuardMaxRetry 2",
    "ignoring.test": "XmlRpcGuard On\nXmlRpcGuardIgnoreIP 198.18.3.0/24",
    "off.test": "XmlRpcGuard Off",
    # mod_xrg_held_answer: a 403 fault passed on, its end held back until a flag.
    "held.test": "XmlRpcGuard On\n<Location /xmlrpc.php>\n  SetHandler xrg-held-answer\n</Location>",
}
HELD_ANSWER_MODULE = os.environ.get("XRG_HELD_ANSWER_MODULE", "")
MAIN = "XmlRpcGuardIgnoreIP 198.18.4.1\nXmlRpcGuardBanTime 1h"


class EventFpmSuite(GuardCases, unittest.TestCase):
    SUBNET = "198.18.1"

    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.server = GuardedServer("fpm", "fpm", VHOSTS, MAIN,
                                   extra_modules=[("xrg_held_answer", HELD_ANSWER_MODULE)])

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_chunked_body_sent_in_many_small_pieces(self):
        # mod_proxy_fcgi passes a chunked body to PHP-FPM without CONTENT_LENGTH, so PHP
        # reads an empty body: the backend answers XML-RPC's parse error and no password
        # is ever tried. The guard judges that answer, not the request: no offence, no
        # ban. (mod_php and mod_proxy_http read such a body whole: GuardCases.)
        src = self.addr("chunked")
        for _ in range(3):
            answer = self.client.post("/xmlrpc.php", login_call("wrong"), src, GUARDED,
                                      chunk_size=5, pause_ms=1)
            self.assertEqual(answer["status"], 200, answer)
            self.assertIn("<name>faultCode</name><value><int>-32700</int></value>", answer["body"])
            self.assertNotIn("<int>403</int>", answer["body"])
        self.assert_not_banned(src)
        self.assertEqual(count_lines(self.server.log(), f"client={src} "), 0)
        # The same attempts with a length are read by PHP, and ban at the third.
        for _ in range(3):
            self.wrong_password(src)
        self.assert_banned(src)

    def held_answer(self, src, hold):
        """A bad password to held.test: its answer goes down the output filters whole
        but without its end, which the backend passes once the test flags `hold`."""
        client = Client(self.server.net)
        self.addCleanup(client.close, self.server.net)
        client.send(method="POST", path=f"/xmlrpc.php?hold={hold}", body=login_call("wrong"), src=src,
                    vhost="held.test", headers={"Content-Type": "text/xml"})
        wait_until(lambda: self.server.flag_started(hold), timeout=10, what="the held answer under way")
        return client

    def test_a_held_answer_arrives_whole_when_nothing_raced_it(self):
        src = self.addr("held")
        client = self.held_answer(src, f"hold-{src}")
        self.server.flag(f"hold-{src}")
        done = client.next_event()
        self.assertEqual(done.get("status"), 200, done)
        self.assertIn("<int>403</int>", done["body"])
        self.assertEqual(count_lines(self.server.log(), "XRG0101: offence", f"client={src} "), 1)

    def test_an_answer_under_way_when_its_attempt_passes_the_threshold_is_cut_off(self):
        src = self.addr("cutoff")
        client = self.held_answer(src, f"hold-{src}")
        # Past the early check and on its way, while three more attempts ban the client:
        # at its end it is the fourth, and too far along to become a 403.
        for _ in range(3):
            self.wrong_password(src)
        self.assert_banned(src)
        self.server.flag(f"hold-{src}")
        done = client.next_event()
        # The connection is closed with the answer still in httpd's output buffer:
        # not a byte of it reaches the client.
        self.assertNotIn("faultCode", str(done))
        self.assertNotIn("status", done, done)
        self.assertEqual(count_lines(self.server.log(), "XRG0108: answer cut off", f"client={src} "), 1)

    def test_detect_only_counts_and_logs_but_never_denies(self):
        src = self.addr("detect")
        for _ in range(4):
            self.wrong_password(src, "detect.test")
        self.assert_not_banned(src, "detect.test")
        self.assert_not_banned(src)  # nothing reached the table's bans
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0101: offence", f"client={src} ", "mode=DetectOnly"), 4)
        self.assertEqual(count_lines(log, "XRG0103: detect-only: would ban", f"client={src} "), 1)
        self.assertEqual(count_lines(log, ban_line(src)), 0)

    def test_ignore_lists_add_up(self):
        self.server.net.add_client_address("198.18.3.5")
        self.server.net.add_client_address("198.18.4.1")
        for src in ("198.18.3.5", "198.18.4.1"):  # the vhost's list, the server's list
            for _ in range(4):
                self.wrong_password(src, "ignoring.test")
            self.assert_not_banned(src, "ignoring.test")
            self.assertEqual(count_lines(self.server.log(), f"client={src} "), 0)
        for _ in range(4):  # the server's list holds on every vhost
            self.wrong_password("198.18.4.1")
        self.assert_not_banned("198.18.4.1")

    def test_per_vhost_thresholds(self):
        strict, default = self.addr("strict"), self.addr("default")
        for _ in range(2):
            self.wrong_password(strict, "strict.test")
            self.wrong_password(default)
        self.assert_banned(strict, "strict.test")
        self.assert_not_banned(default)
        self.assertIn("in_window=2/2", next(
            l for l in self.server.log().splitlines() if ban_line(strict) in l))

    def test_off_vhost_is_not_guarded(self):
        src = self.addr("off")
        for _ in range(4):
            self.wrong_password(src, "off.test")
        self.assert_not_banned(src, "off.test")
        self.assertEqual(count_lines(self.server.log(), f"client={src} "), 0)

    def test_encoded_answer_is_not_scanned_nor_counted(self):
        src = self.addr("gzip")
        for _ in range(4):
            answer = self.client.post("/xmlrpc.php?gzip=1", login_call("wrong"), src, GUARDED)
            self.assertEqual(answer["headers"].get("content-encoding"), "gzip")
        self.assert_not_banned(src)
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0106", f"client={src} "), 4)
        self.assertEqual(count_lines(log, "XRG0101", f"client={src} "), 0)

    def test_path_spellings_cannot_walk_around_the_guard(self):
        src = self.addr("spelling")
        for path in ("/%78mlrpc.php", "//xmlrpc.php", "/nothing/../xmlrpc.php"):
            self.wrong_password(src, path=path)
        self.assert_banned(src)

    def test_request_cannot_forge_log_lines(self):
        src = self.addr("forger")
        method = 'wp.getUsersBlogs"\n[client 198.18.9.9:1] XRG0102: ban client=198.18.9.9 '
        self.client.post("/xmlrpc.php", call(method, "admin", "wrong"), src, GUARDED)
        log = self.server.log()
        # The fail2ban filter's anchoring: httpd's bracketed prefix, then our id.
        forged = re.compile(r"^(?:\[[^\]]*\] )*\[client [^\]]+\] XRG010[12]: \w+ client=198\.18\.9\.9 ")
        self.assertFalse([l for l in log.splitlines() if forged.match(l) or l.startswith("[client")])
        offence = next(l for l in log.splitlines() if "XRG0101" in l and f"client={src} " in l)
        self.assertRegex(offence, r'method="wp\.getUsersBlogs\\+"\\+n\[client')  # escaped, on one line

    def test_ipv6_clients_count_per_prefix(self):
        first, second = "2001:db8:5::1", "2001:db8:5::2"
        for address in (first, second):
            self.server.net.add_client_address(address)
        self.client.post("/xmlrpc.php", login_call("wrong"), first, GUARDED, host="2001:db8::1")
        self.client.post("/xmlrpc.php", login_call("wrong"), second, GUARDED, host="2001:db8::1")
        self.assertEqual(self.client.get("/index.html", first, GUARDED, host="2001:db8::1")["status"], 200)
        self.client.post("/xmlrpc.php", login_call("wrong"), second, GUARDED, host="2001:db8::1")
        for address in (first, second):
            self.assertEqual(self.client.get("/index.html", address, GUARDED, host="2001:db8::1")["status"], 403)
        self.assertEqual(count_lines(self.server.log(), "XRG0102: ban", "key=2001:db8:5::/64"), 1)

    def test_graceful_restart_keeps_bans_and_counts(self):
        banned, counted = self.addr("banned"), self.addr("counted")
        for _ in range(3):
            self.wrong_password(banned)
        for _ in range(2):
            self.wrong_password(counted)
        self.server.graceful()
        self.assert_banned(banned)
        self.assert_not_banned(counted)
        self.wrong_password(counted)  # the third offence, two of them from before the restart
        self.assert_banned(counted)
        # A new table size makes a new table; every entry is carried over.
        self.server.graceful(self.server.site_config(main_guard=MAIN + "\nXmlRpcGuardTableSize 4096"))
        self.assertIn("XRG0004", self.server.log())
        self.assert_banned(banned)
        self.assert_banned(counted)
        # The segments are anonymous: nothing on disk to leak across restarts.
        for directory in ("/dev/shm", self.server.workdir):
            self.assertEqual([n for n in os.listdir(directory) if "xmlrpcguard" in n], [])


if __name__ == "__main__":
    unittest.main()
