"""Behaviour every deployment shape must show (mixed into the suites per backend).

Each test uses client addresses of its own, so the tests of a suite share one
server and one shared table without seeing each other's counts."""

import threading

from netns import wait_until
from xrg_harness import Client, count_lines, login_call, multicall, pingback

GUARDED = "guarded.test"  # XmlRpcGuard On, maxretry 3 (the seed default)


def ban_line(address):
    return f"XRG0102: ban client={address} "


class GuardCases:
    server = None  # set by the suite's setUpClass
    client = None
    SUBNET = "198.18.1"  # each suite takes its own /24 of client addresses
    _last_host = 10

    def setUp(self):
        # A fresh client per test: a failed test cannot leave answers for the next.
        self.client = Client(self.server.net)
        self.addCleanup(self.client.close, self.server.net)

    def addr(self, purpose):
        """A fresh client address in the client namespace, for one test's purpose."""
        cls = type(self)
        cls._last_host += 1
        address = f"{cls.SUBNET}.{cls._last_host}"
        self.server.net.add_client_address(address)
        return address

    # -- helpers --
    def assert_not_banned(self, src, vhost=GUARDED):
        self.assertEqual(self.client.get("/index.html", src, vhost)["status"], 200,
                         f"{src} should not be banned")

    def assert_banned(self, src, vhost=GUARDED):
        self.assertEqual(self.client.get("/index.html", src, vhost)["status"], 403,
                         f"{src} should be banned")

    def wrong_password(self, src, vhost=GUARDED, path="/xmlrpc.php", **extra):
        answer = self.client.post(path, login_call("wrong"), src, vhost, **extra)
        self.assertEqual(answer["status"], 200)
        self.assertIn("<int>403</int>", answer["body"])
        return answer

    # -- cases --
    def test_auth_failures_ban_at_exactly_maxretry(self):
        src = self.addr("auth")
        for _ in range(2):
            self.wrong_password(src)
        self.assert_not_banned(src)
        self.wrong_password(src)  # the third: its own answer passes, the ban falls at its end
        self.assert_banned(src)
        self.assertEqual(self.client.post("/xmlrpc.php", login_call("right"), src, GUARDED)["status"], 403)
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0101: offence", f"client={src} "), 3)
        self.assertEqual(count_lines(log, ban_line(src)), 1)

    def test_pingback_errors_ban_at_exactly_maxretry(self):
        src = self.addr("pingback")
        for _ in range(2):
            answer = self.client.post("/xmlrpc.php", pingback("http://198.18.9.9/victim"), src, GUARDED)
            self.assertIn("<int>0</int>", answer["body"])
        self.assert_not_banned(src)
        self.client.post("/xmlrpc.php", pingback("http://198.18.9.9/victim"), src, GUARDED)
        self.assert_banned(src)
        self.assertIn("reason=pingback_error", next(
            l for l in self.server.log().splitlines() if ban_line(src) in l))

    def test_duplicate_pingback_and_successes_never_count(self):
        src = self.addr("innocent")
        for _ in range(4):
            answer = self.client.post("/xmlrpc.php", pingback("http://198.18.9.9/duplicate"), src, GUARDED)
            self.assertIn("<int>48</int>", answer["body"])
            answer = self.client.post("/xmlrpc.php", login_call("right"), src, GUARDED)
            self.assertIn("blogid", answer["body"])
            self.assertEqual(self.client.login("right", src, GUARDED)["status"], 302)
        self.assert_not_banned(src)
        self.assertEqual(count_lines(self.server.log(), f"client={src} "), 0)

    def test_multicall_counts_every_attempt(self):
        src = self.addr("multicall")
        body = multicall([("wp.getUsersBlogs", ["admin", f"guess{i}"]) for i in range(3)])
        answer = self.client.post("/xmlrpc.php", body, src, GUARDED)
        self.assertEqual(answer["body"].count("<int>403</int>"), 3)
        self.assert_banned(src)
        self.assertEqual(count_lines(self.server.log(), "XRG0101: offence", f"client={src} ", "count=3 "), 1)

    def test_login_failures_ban_at_exactly_maxretry(self):
        src = self.addr("login")
        for _ in range(2):
            self.assertIn('id="login_error"', self.client.login("wrong", src, GUARDED)["body"])
        self.assert_not_banned(src)
        self.client.login("wrong", src, GUARDED)
        self.assert_banned(src)
        self.assertIn("reason=login_failure", next(
            l for l in self.server.log().splitlines() if ban_line(src) in l))

    def test_chunked_body_sent_in_many_small_pieces(self):
        src = self.addr("chunked")
        for _ in range(3):
            self.wrong_password(src, chunk_size=5, pause_ms=1)
        self.assert_banned(src)

    def test_answer_streams_through_unbuffered(self):
        src = self.addr("stream")
        gate = f"gate-{src}"
        self.client.send(method="POST", path=f"/xmlrpc.php?gate={gate}", body=login_call("right"),
                         src=src, vhost=GUARDED, headers={"Content-Type": "text/xml"}, report_first=True)
        first = self.client.next_event()
        # The backend holds the rest of the answer until the gate opens, so these bytes
        # reached the client before the last ones were produced.
        self.assertEqual(first.get("event"), "first", first)
        self.assertEqual(first["status"], 200)
        self.assertTrue(first["bytes"])
        self.assertNotIn("</methodResponse>", first["bytes"])
        self.server.flag(gate)
        done = self.client.next_event()
        self.assertEqual(done["status"], 200, done)
        self.assertIn("</methodResponse>", done["body"])

    def test_answer_in_flight_when_the_ban_falls_is_replaced(self):
        src = self.addr("inflight")
        gate = f"wait-{src}"
        slow = Client(self.server.net)
        # A request that is past the early check and waits in the backend...
        slow.send(method="POST", path=f"/xmlrpc.php?wait={gate}", body=login_call("right"), src=src,
                  vhost=GUARDED, headers={"Content-Type": "text/xml"})
        wait_until(lambda: self.server.flag_started(gate), timeout=10, what="slow request in backend")
        # ...while the same client is banned through other requests.
        for _ in range(3):
            self.wrong_password(src)
        self.assert_banned(src)
        self.server.flag(gate)
        done = slow.next_event()
        self.assertEqual(done["status"], 403, done)
        self.assertNotIn("blogid", done["body"])
        self.assertEqual(count_lines(self.server.log(), "XRG0105", f"client={src} "), 1)
