"""The guard over HTTP/2 (h2c, prior knowledge, mod_http2) with a real HTTP/2 client
(curl): the same verdicts and early deny as over HTTP/1.1, and an answer under way
when its client is banned is cut off as one stream, not as the connection."""

import os
import subprocess
import tempfile
import unittest

from netns import SERVER_V4, wait_until
from xrg_harness import MODULES_DIR, GuardedServer, count_lines, login_call, skip_unless_ready

GUARDED = "guarded.test"
VHOSTS = {
    GUARDED: "XmlRpcGuard On",
    # mod_xrg_held_answer: a 403 fault passed on, its end held back until a flag.
    "held.test": "XmlRpcGuard On\n<Location /xmlrpc.php>\n  SetHandler xrg-held-answer\n</Location>",
}
HELD_ANSWER_MODULE = os.environ.get("XRG_HELD_ANSWER_MODULE", "")
MAIN = "Protocols h2c http/1.1\nXmlRpcGuardIPSet none\nXmlRpcGuardBanTime 1h"


class GuardOverHttp2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.server = GuardedServer("h2", "fpm", VHOSTS, MAIN,
                                   extra_modules=[("http2", f"{MODULES_DIR}/mod_http2.so"),
                                                  ("xrg_held_answer", HELD_ANSWER_MODULE)])
        cls.net = cls.server.net
        cls.hosts = iter(range(10, 250))
        cls.bodies = tempfile.mkdtemp(prefix="xrg-h2-")
        cls.bad_password = os.path.join(cls.bodies, "bad.xml")
        with open(cls.bad_password, "w") as f:
            f.write(login_call("wrong"))

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        subprocess.run(["rm", "-rf", cls.bodies], check=False)

    def addr(self):
        address = f"198.18.6.{next(self.hosts)}"
        self.net.add_client_address(address)
        return address

    def curl_argv(self, src, vhost, path, body=None):
        argv = ["curl", "-s", "--http2-prior-knowledge", "--interface", src, "--max-time", "20",
                "-H", f"Host: {vhost}", "-w", "\n%{http_code} %{http_version}\n"]
        if body:
            argv += ["-H", "Content-Type: text/xml", "--data-binary", f"@{body}"]
        return argv + [f"http://{SERVER_V4}{path}"]

    def h2(self, src, vhost=GUARDED, path="/xmlrpc.php", body=None):
        """(status, HTTP version, body) of one request over h2c."""
        done = self.net.run(self.net.client, self.curl_argv(src, vhost, path, body), check=False,
                            timeout=30)
        text, status, version = done.stdout.rsplit("\n", 2)[0], *done.stdout.split()[-2:]
        return int(status), version, text

    def test_verdicts_and_early_deny_are_those_of_http1(self):
        src = self.addr()
        for _ in range(3):
            status, version, text = self.h2(src, body=self.bad_password)
            self.assertEqual((status, version), (200, "2"))
            self.assertIn("<int>403</int>", text)
        # The fourth request of the banned client is refused before any handler runs.
        status, version, _ = self.h2(src, path="/index.html")
        self.assertEqual((status, version), (403, "2"))
        self.assertEqual(count_lines(self.server.log(), f"XRG0102: ban client={src} "), 1)

    def test_an_answer_under_way_when_its_client_is_banned_is_cut_off_alone(self):
        src = self.addr()
        hold = f"hold-{src}"
        held = self.net.start(self.net.client,
                              self.curl_argv(src, "held.test", f"/xmlrpc.php?hold={hold}",
                                             self.bad_password),
                              stdout=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: self.server.flag_started(hold), timeout=10,
                       what="the held answer under way")
            for _ in range(3):  # meanwhile the client is banned by three more attempts
                self.h2(src, body=self.bad_password)
            self.assertEqual(self.h2(src, path="/index.html")[0], 403)
            self.server.flag(hold)
            out, _ = held.communicate(timeout=30)
        finally:
            self.net.stop(held)
        # Not a byte of the result reached the client: the answer, held whole on its
        # HTTP/2 stream until its end, became a 403 on that stream alone.
        self.assertNotIn("faultCode", out)
        self.assertTrue(out.rstrip().endswith("403 2"), out)
        self.assertEqual(count_lines(self.server.log(), "XRG0105: answer replaced by 403",
                                     f"client={src} "), 1)
        other = self.addr()
        self.assertEqual(self.h2(other, path="/index.html")[:2], (200, "2"))


if __name__ == "__main__":
    unittest.main()
