"""Spellings of attacks that WordPress runs and a stricter reader would not, against
the real Debian wordpress package behind the guard (maxretry 3). Each body was a way
around the guard before it read requests as WordPress's IXR_Message does; here real
WordPress runs each one (its answer shows the failed calls) and the guard bans after
maxretry offences, as for the plain spelling. The site compresses its answers when a
client asks (PHP's zlib.output_compression), as many sites do: the guard still reads
every answer."""
import json
import os
import sys
import tempfile
import unittest

from netns import SERVER_V4
from wp_sandbox import Sandbox

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "parity"))
import parity_lib  # noqa: E402

GUARD = """XmlRpcGuard On
XmlRpcGuardMaxRetry 3
XmlRpcGuardFindTime 1h
XmlRpcGuardBanTime 1h"""
COMPRESSING = "ini_set('zlib.output_compression', '1');"


def with_inner_declaration(body):
    """WordPress strips the first <?xml ...?> in the first 100 bytes, wherever it stands;
    libxml2 alone refuses one after the root element opens."""
    start = body.index(b"<methodCall>") + len(b"<methodCall>")
    return b"<methodCall><?xml version=\"1.0\"?>" + body[start:]


class WordPressRunsOddSpellings(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sandbox = Sandbox("wpp", GUARD, extra_php=COMPRESSING)
        cls.hosts = iter(range(10, 250))
        cls.bodies = tempfile.mkdtemp(prefix="xrg-bodies-")

    @classmethod
    def tearDownClass(cls):
        cls.sandbox.close()

    def addr(self):
        return self.sandbox.add_client(f"198.18.8.{next(self.hosts)}")

    def post(self, body, src, count, **options):
        path = os.path.join(self.bodies, f"{src}.xml")
        with open(path, "wb") as f:
            f.write(body)
        argv = [sys.executable, "-u", os.path.join(HERE, "raw_post.py"), "--src", src, "--host",
                SERVER_V4, "--vhost", self.sandbox.host, "--body", path, "--count", str(count)]
        for name, value in options.items():
            argv += [f"--{name.replace('_', '-')}", str(value)]
        done = self.sandbox.net.run(self.sandbox.net.client, argv, timeout=300)
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]

    def assert_banned_after(self, attempts, answered, faults_each):
        got = [a for a in attempts if a["outcome"] == "answered"]
        self.assertEqual(len(got), answered, attempts)
        for attempt in got:  # WordPress ran the body: its answer shows every failed call
            self.assertEqual(attempt["faults"], faults_each, attempt)
        # The next one meets the guard's 403, or the kernel's DROP (which may land while
        # its connection is opening); no further result is read, and the last is dropped.
        self.assertTrue(all(a["outcome"] in ("denied", "dropped", "stalled")
                            for a in attempts[answered:]), attempts)
        self.assertEqual(attempts[-1]["outcome"], "dropped", attempts)

    def pingback(self):
        return parity_lib.call(
            b"pingback.ping",
            b"<param><value><string>%s</string></value></param>"
            b"<param><value><string>%s</string></value></param>" %
            (self.sandbox.victim_url.encode(), self.sandbox.site.post_url.encode()))

    def test_a_multicall_with_a_declaration_inside_is_banned_with_its_first_answer(self):
        body = with_inner_declaration(parity_lib.multicall([parity_lib.auth_call()] * 50))
        self.assert_banned_after(self.post(body, self.addr(), 3), 1, [403] * 50)

    def test_a_pingback_with_a_declaration_inside_is_banned_after_three(self):
        body = with_inner_declaration(self.pingback())
        self.assert_banned_after(self.post(body, self.addr(), 5, timeout=30), 3, [0])

    def test_a_multicall_whose_last_method_name_stands_past_four_mebibytes(self):
        # IXR runs the last <methodName>; a reader that stopped at 4 MiB saw "demo.sayHello".
        multicall = parity_lib.multicall([parity_lib.auth_call()] * 10)
        padding = b"<!--" + b"x" * (4 * 1024 * 1024 + 4096) + b"-->"
        body = multicall.replace(b"<methodName>system.multicall</methodName>",
                                 b"<methodName>demo.sayHello</methodName>" + padding +
                                 b"<methodName>system.multicall</methodName>")
        self.assertGreater(len(body), 4 * 1024 * 1024)
        self.assert_banned_after(self.post(body, self.addr(), 3), 1, [403] * 10)

    def test_pingbacks_in_a_struct_shaped_multicall_are_counted_each(self):
        calls = b"".join(
            parity_lib.member(b"k%d" % i, b"<struct>" +
                              parity_lib.member(b"methodName", b"<string> pingback.ping </string>") +
                              parity_lib.member(b"params", b"<array><data><value>%s</value>"
                                                b"<value>%s</value></data></array>" %
                                                (self.sandbox.victim_url.encode(),
                                                 self.sandbox.site.post_url.encode())) +
                              b"</struct>") for i in range(3))
        body = parity_lib.call(b"system.multicall",
                               b"<param><value><struct>" + calls + b"</struct></value></param>")
        # WordPress fetches each source before it answers: give it time.
        self.assert_banned_after(self.post(body, self.addr(), 3, timeout=30), 1, [0, 0, 0])

    def test_an_answer_the_client_asked_compressed_is_still_read(self):
        src = self.addr()
        home = self.post(b"", src, 1, path="/", accept_encoding="gzip")
        self.assertEqual(home[0].get("encoding"), "gzip", home)  # the site does compress
        body = parity_lib.call(b"wp.getUsersBlogs",
                               b"<param><value>admin</value></param>"
                               b"<param><value>wrong</value></param>")
        self.assert_banned_after(self.post(body, src, 5, accept_encoding="gzip"), 3, [403])


if __name__ == "__main__":
    unittest.main()
