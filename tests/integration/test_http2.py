"""The guard over HTTP/2 (h2c, prior knowledge, mod_http2) with real HTTP/2 clients
(curl; python3-h2 for streams on one connection): the same verdicts and early deny as
over HTTP/1.1, and an answer under way when its client is banned is withheld on its
own stream, not by closing the connection."""

import json
import os
import subprocess
import tempfile
import unittest

from netns import SERVER_V4, wait_until
from xrg_harness import MODULES_DIR, GuardedServer, count_lines, login_call, skip_unless_ready

GUARDED = "guarded.test"
HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-h2
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


    def test_the_withheld_stream_ends_alone_and_the_connection_goes_on(self):
        src = self.addr()
        hold = f"hold-{src}"
        argv = [SYSTEM_PYTHON, "-u", os.path.join(HERE, "h2_streams.py"), "--src", src,
                "--host", SERVER_V4, "--authority", "held.test",
                "--held-path", f"/xmlrpc.php?hold={hold}", "--body", self.bad_password,
                "--other-path", "/index.html"]
        client = self.net.start(self.net.client, argv, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(client.stdout.readline().strip(), "sent")
            wait_until(lambda: self.server.flag_started(hold), timeout=10,
                       what="the held answer under way")
            for _ in range(3):  # meanwhile three more attempts ban the client
                self.h2(src, body=self.bad_password)
            self.server.flag(hold)
            out, _ = client.communicate(timeout=60)
        finally:
            self.net.stop(client)
        result = json.loads(out.strip().splitlines()[-1])
        # Stream A: no result read, a 403 on its own stream; then stream B on the same
        # connection is answered (the client is banned now: by httpd's early 403).
        self.assertFalse(result["a"]["fault_read"], result)
        self.assertEqual(result["a"]["status"], 403, result)
        self.assertFalse(result["connection_closed"], result)
        self.assertEqual(result["b"]["status"], 403, result)


if __name__ == "__main__":
    unittest.main()
