"""Answers from handlers that stream through pipes and sockets (mod_cgid's CGI
scripts, mod_fcgid's FastCGI processes running php-cgi): the guard reads each bucket
without blocking first and passes what it read on at once, so an endless answer
reaches the client as it is produced and no httpd child grows with it; the verdicts
are those of any other handler."""

import json
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
import unittest

from netns import SERVER_V4, wait_until
from xrg_harness import MODULES_DIR, GuardedServer, skip_unless_ready

GUARDED = "guarded.test"
HERE = os.path.dirname(os.path.abspath(__file__))

FAULT_403 = """#!/bin/sh
cat >/dev/null
printf 'Content-Type: text/xml\\r\\n\\r\\n'
printf '<?xml version="1.0" encoding="UTF-8"?>\\n<methodResponse><fault><value><struct>'
printf '<member><name>faultCode</name><value><int>403</int></value></member>'
printf '<member><name>faultString</name><value><string>Incorrect username or password.'
printf '</string></value></member></struct></value></fault></methodResponse>\\n'
"""

# Never ends by itself: it stops when httpd closes the pipe (the client went away).
ENDLESS = """#!/bin/sh
cat >/dev/null
printf 'Content-Type: text/xml\\r\\n\\r\\n'
printf '<?xml version="1.0" encoding="UTF-8"?>\\n<methodResponse><params><param><value><string>'
exec yes 'a line of an answer that never ends, streamed by a CGI script through a pipe'
"""


FCGI_FAULT_403 = """<?php
header('Content-Type: text/xml');
echo '<?xml version="1.0" encoding="UTF-8"?>' . "\\n" . '<methodResponse><fault><value><struct>'
    . '<member><name>faultCode</name><value><int>403</int></value></member>'
    . '<member><name>faultString</name><value><string>Incorrect username or password.'
    . '</string></value></member></struct></value></fault></methodResponse>' . "\\n";
"""

# Never ends by itself: PHP stops when a write to the gone client fails.
FCGI_ENDLESS = """<?php
header('Content-Type: text/xml');
echo '<?xml version="1.0" encoding="UTF-8"?>' . "\\n"
    . '<methodResponse><params><param><value><string>';
$line = str_repeat("a line of an answer that never ends, from php-cgi under mod_fcgid\\n", 100);
while (true) {
    echo $line;
    flush();
}
"""


def write_script(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


def children_rss_kib(parent_pid):
    """VmRSS of every direct child of `parent_pid` (httpd's children), in KiB."""
    sizes = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent_pid:
                continue
            with open(f"/proc/{name}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        sizes[int(name)] = int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return sizes


class StreamingHandlers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.scripts = tempfile.mkdtemp(prefix="xrg-cgi-")
        os.chmod(cls.scripts, 0o755)
        cgi, fcgi = os.path.join(cls.scripts, "cgi"), os.path.join(cls.scripts, "fcgi")
        write_script(os.path.join(cgi, "fault", "rpc.cgi"), FAULT_403)
        write_script(os.path.join(cgi, "endless", "rpc.cgi"), ENDLESS)
        write_script(os.path.join(fcgi, "fault", "rpc.cgi"), FCGI_FAULT_403)
        write_script(os.path.join(fcgi, "endless", "rpc.cgi"), FCGI_ENDLESS)
        # The guarded script name is rpc.cgi: mod_cgid runs the shell scripts, mod_fcgid
        # hands the PHP ones to php-cgi.
        guard = (f"XmlRpcGuard On\nXmlRpcGuardXmlRpcPath rpc.cgi\n"
                 f"ScriptAlias /cgi/ {cgi}/\n"
                 f"<Directory {cgi}>\n  Require all granted\n</Directory>\n"
                 f"Alias /fcgi/ {fcgi}/\n"
                 f"<Directory {fcgi}>\n  Require all granted\n  Options +ExecCGI\n"
                 f"  AddHandler fcgid-script .cgi\n  FcgidWrapper /usr/bin/php-cgi .cgi\n"
                 f"</Directory>")
        main = (f"ScriptSock {cls.scripts}/cgid.sock\n"
                f"FcgidIPCDir {cls.scripts}/fcgid-ipc\n"
                f"FcgidProcessTableFile {cls.scripts}/fcgid-shm\n"
                f"FcgidIOTimeout 60")
        try:
            cls.server = GuardedServer(
                "stream", "fpm", {GUARDED: guard},
                main_guard=main,
                extra_modules=[("cgid", f"{MODULES_DIR}/mod_cgid.so"),
                               ("fcgid", f"{MODULES_DIR}/mod_fcgid.so"),
                               ("alias", f"{MODULES_DIR}/mod_alias.so")])
        except BaseException:
            shutil.rmtree(cls.scripts, ignore_errors=True)
            raise
        cls.net = cls.server.net
        cls.hosts = iter(range(10, 250))

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        shutil.rmtree(cls.scripts, ignore_errors=True)

    def addr(self):
        address = f"198.18.5.{next(self.hosts)}"
        self.net.add_client_address(address)
        return address

    def read_stream(self, path, src, limit, seconds):
        argv = [sys.executable, "-u", os.path.join(HERE, "stream_reader.py"), "--src", src,
                "--host", SERVER_V4, "--vhost", GUARDED, "--path", path, "--bytes", str(limit),
                "--seconds", str(seconds)]
        done = self.net.run(self.net.client, argv, timeout=seconds + 30)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def test_an_endless_cgi_answer_streams_to_the_client_in_bounded_memory(self):
        self.assert_streams_in_bounded_memory("/cgi/endless/rpc.cgi")

    def test_an_endless_fcgid_answer_streams_to_the_client_in_bounded_memory(self):
        self.assert_streams_in_bounded_memory("/fcgi/endless/rpc.cgi")

    def assert_streams_in_bounded_memory(self, path):
        parent = self.server.httpd.process.pid
        before = children_rss_kib(parent)
        self.assertTrue(before, "no httpd children found")
        peak = [max(before.values())]
        done = threading.Event()

        def sample():
            while not done.is_set():
                sizes = children_rss_kib(parent)
                if sizes:
                    peak[0] = max(peak[0], max(sizes.values()))
                done.wait(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            read = self.read_stream(path, self.addr(), 256 << 20, 60)
        finally:
            done.set()
            sampler.join()
        self.assertEqual(read["status"], 200, read)
        # The answer arrives as it is produced, not after it ends (it never does)...
        self.assertIsNotNone(read["first_byte_after"], read)
        self.assertLess(read["first_byte_after"], 5, read)
        self.assertGreaterEqual(read["bytes"], 256 << 20, read)
        # ...and no child holds it: 256 MiB went through, the largest child grew by
        # less than 64 MiB.
        self.assertLess(peak[0] - max(before.values()), 64 << 10,
                        f"a child grew from {max(before.values())} KiB to {peak[0]} KiB")

    def test_verdicts_through_a_cgi_pipe_are_those_of_any_handler(self):
        self.assert_banned_after_three("/cgi/fault/rpc.cgi")

    def test_verdicts_through_mod_fcgid_are_those_of_any_handler(self):
        self.assert_banned_after_three("/fcgi/fault/rpc.cgi")

    def assert_banned_after_three(self, path):
        src = self.addr()
        statuses = []
        for _ in range(4):
            read = self.read_stream(path, src, 1 << 20, 10)
            statuses.append(read["status"])
        self.assertEqual(statuses[:3], [200, 200, 200], statuses)
        self.assertEqual(statuses[3], 403, statuses)
        self.assertIn(f"XRG0102: ban client={src} ", self.server.log())


if __name__ == "__main__":
    unittest.main()
