"""Several servers as one (XmlRpcGuardCluster): three apache2 nodes and one
redis-server, all started by the test in its own server namespace (the nodes on ports
8001-8003 of 198.18.0.1, each with its own helper, shared memory and kernel sets
xrgnodeN/xrgnodeN6, so that "in node B's kernel set" can be seen), and attackers in
the client namespace.

* One attacker address taking turns over the three nodes reads maxretry offending
  answers in total; then all three deny it (table) and hold it in their kernel sets.
* Forged stream entries (written with redis-cli, as anyone with Redis's password
  could) naming loopback, a node's own address, an ignored address or a network wider
  than /32 are refused by every node, and logged.
* redis-server killed mid-attack (by pid): every node says "cluster: disconnected"
  and bans on its own windows; started again: every node reconnects, the offences
  queued meanwhile reach the fleet's window, and a new ban spreads again.
* A node stopped while the others ban reads the stream on from where it left off
  when it starts again; after a graceful restart a node is back in the fleet.
* xmlrpcguardctl unban and flush on one node lift the bans on every node.
* A Redis that stops answering (DEBUG SLEEP) stalls no node: each bans on its own
  window meanwhile.
* Fleet-wide user-name locks (XmlRpcGuardClusterNameKey): a dictionary attack on one
  name spread round-robin over the three nodes, one guess per address, reaches PHP
  XmlRpcGuardUserMaxRetry + 1 times in total, then every node answers the name itself;
  the owner, trusted by its logins, still gets through on every node; a flood of forged
  lock entries and a forged lock longer than any lock time are refused and counted;
  with Redis away a name locks on its own node, and once Redis is back the queued
  failures lock it on the nodes that had not seen it, at the name's first failure there.
* A compromised Redis (issue 17): 300 forged unbans in one go lift at most the lift
  ceiling's burst, the ban after them stays, and the refusals are counted and logged
  (XRG0409); 1200 forged bans in one go are all applied, those over the rate ceiling
  kept and applied as it refills (XRG0410, cluster_bans_deferred). Bans still kept
  when a node's httpd stops are in its state.cluster and applied after the restart
  (XRG0415), though its stream position is past them.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from netns import SERVER_V4, TestNet, wait_until
from xrg_harness import (Client, Httpd, copy_backend, login_call, php_handler, skip_unless_ready,
                         start_php_fpm)

MAXRETRY = 3
USER_MAXRETRY = 4
USER_LOCKTIME = 600
NAME_SECRET = "a-fleet-secret-of-more-than-32-bytes-0123456789"
BANTIME = 600
PORTS = (8001, 8002, 8003)
REDIS_PORT = 6390
PASSWORD = "fleet-secret-7"
PREFIX = "xrgtest:"
IGNORED = "198.18.9.9"
STATUS = "/guard-status"
VHOST = "guarded.test"
CTL = os.path.join(os.environ.get("XRG_BUILD_DIR", ""), "tools", "xmlrpcguardctl")


def node_config(index, workdir, docroot, fpm_socket, password_file, name_key_file):
    port = PORTS[index]
    main = "\n".join([
        f"XmlRpcGuardIPSet xrgnode{index} xrgnode{index}6",
        f"XmlRpcGuardControlSocket {workdir}/control.sock",
        f"XmlRpcGuardCluster redis://127.0.0.1:{REDIS_PORT}/0 {PREFIX}",
        f"XmlRpcGuardClusterPasswordFile {password_file}",
        f"XmlRpcGuardClusterNameKey {name_key_file}",
        f"XmlRpcGuardIgnoreIP {IGNORED}",
        f"XmlRpcGuardMaxRetry {MAXRETRY}",
        f"XmlRpcGuardBanTime {BANTIME}",
    ])
    return f"""LogLevel warn xmlrpcguard:info
DocumentRoot {docroot}
<Directory {docroot}>
  Require all granted
  Options -Indexes
</Directory>
{main}
<VirtualHost *:{port}>
  ServerName {VHOST}
  DocumentRoot {docroot}
{php_handler("fpm", fpm_socket)}
  XmlRpcGuard On
  XmlRpcGuardUserMaxRetry {USER_MAXRETRY}
  XmlRpcGuardUserLockTime {USER_LOCKTIME}
  XmlRpcGuardAlarmRate 0
  XmlRpcGuardAlarmFactor 0
  <Location {STATUS}>
    SetHandler xmlrpcguard-status
  </Location>
</VirtualHost>
"""


class Fleet:
    """redis-server and three apache2 nodes in one TestNet's server namespace."""

    def __init__(self):
        self.workdir = tempfile.mkdtemp(prefix="xrg-cluster-")
        os.chmod(self.workdir, 0o755)
        self.net = TestNet("cluster", client_addresses=())
        self.redis = None
        self.nodes = []
        try:
            self.password_file = os.path.join(self.workdir, "redis.password")
            with open(os.open(self.password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(PASSWORD + "\n")
            self.name_key_file = os.path.join(self.workdir, "names.key")
            with open(os.open(self.name_key_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(NAME_SECRET + "\n")
            self.start_redis()
            self.fpm, self.fpm_socket = start_php_fpm(self.net, self.workdir)
            for index in range(len(PORTS)):
                nodedir = os.path.join(self.workdir, f"node{index}")
                os.mkdir(nodedir, 0o755)
                docroot = copy_backend(nodedir)
                httpd = Httpd(self.net, nodedir, "fpm",
                              node_config(index, nodedir, docroot, self.fpm_socket, self.password_file,
                                          self.name_key_file),
                              port=PORTS[index])
                httpd.start()
                self.nodes.append(httpd)
        except BaseException:
            self.close()
            raise

    def start_redis(self):
        self.redis = self.net.start(self.net.server, [
            "redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", self.workdir, "--requirepass", PASSWORD,
            "--enable-debug-command", "local",
            "--logfile", os.path.join(self.workdir, "redis.log")])
        wait_until(lambda: self.redis_cli("PING").stdout.strip() == "PONG" or self.redis.poll() is not None,
                   timeout=10, what="redis-server")
        if self.redis.poll() is not None:
            raise RuntimeError("redis-server did not start")

    def kill_redis(self):
        self.net.stop(self.redis)  # by pid
        self.redis = None

    def redis_cli(self, *args):
        return self.net.run(self.net.server, ["redis-cli", "-p", str(REDIS_PORT), "--no-auth-warning",
                                              "-a", PASSWORD, *args], check=False)

    def in_set(self, index, address):
        return self.net.run(self.net.server, ["ipset", "test", f"xrgnode{index}", address],
                            check=False).returncode == 0

    def close(self):
        for httpd in self.nodes:
            httpd.stop()
        self.net.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class ClusterSuite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.fleet = Fleet()
        cls.net = cls.fleet.net
        cls.hosts = iter(range(10, 250))
        cls.viewer = cls.new_address()
        cls.client = Client(cls.net)
        cls.wait_connected()

    @classmethod
    def tearDownClass(cls):
        cls.client.close(cls.net)
        cls.fleet.close()

    @classmethod
    def new_address(cls):
        address = f"198.18.6.{next(cls.hosts)}"
        cls.net.add_client_address(address)
        return address

    # -- helpers --
    @classmethod
    def report(cls, index):
        answer = cls.client.get(STATUS + "?json", cls.viewer, VHOST, port=PORTS[index])
        assert answer["status"] == 200, answer
        return json.loads(answer["body"])

    @classmethod
    def wait_connected(cls, connected=True):
        word = "cluster: connected since" if connected else "cluster: disconnected since"
        wait_until(lambda: all(cls.report(i).get("cluster", "").startswith(word) for i in range(3)),
                   timeout=20, what=f"every node to say {word!r}")

    def attempt(self, index, src):
        """One bad password to node `index`: True if it was an offending answer the
        attacker read (fault 403), False if denied (403 status)."""
        answer = self.client.post("/xmlrpc.php", login_call("wrong"), src, VHOST, port=PORTS[index])
        if answer["status"] == 403:
            return False
        self.assertEqual(answer["status"], 200, answer)
        self.assertIn("<int>403</int>", answer["body"])
        return True

    def denied(self, index, src):
        return self.client.get("/index.html", src, VHOST, port=PORTS[index])["status"] == 403

    def banned_everywhere(self, src):
        return all(self.denied(i, src) and self.fleet.in_set(i, src) for i in range(3))

    def log(self, index):
        return self.fleet.nodes[index].read_error_log()

    # -- cases, in order --
    def test_1_round_robin_attacker_banned_fleet_wide_after_maxretry_in_total(self):
        attacker = self.new_address()
        read = 0
        for turn in range(MAXRETRY):
            read += self.attempt(turn % 3, attacker)
        self.assertEqual(read, MAXRETRY)
        # No node saw maxretry offences of its own: only the fleet's window can ban.
        wait_until(lambda: self.banned_everywhere(attacker), timeout=10,
                   what="the attacker denied by and in the kernel set of all three nodes")
        for turn in range(MAXRETRY, 3 * MAXRETRY):
            read += self.attempt(turn % 3, attacker)
        self.assertEqual(read, MAXRETRY, "offending answers read across the fleet")
        for i in range(3):
            self.assertIn("XRG0404", self.log(i))

    def test_2_forged_stream_entries_naming_protected_addresses_are_refused(self):
        marker = self.new_address()
        forged = [("127.0.0.1", "32"), (SERVER_V4, "32"), (IGNORED, "32"), ("2001:db8::", "16"),
                  ("198.18.6.0", "24")]
        stream = PREFIX + "bans"
        until = str(int(time.time()) + 300)
        for address, prefix in forged:
            self.fleet.redis_cli("XADD", stream, "*", "op", "ban", "node", "forger", "addr", address,
                                 "prefix", prefix, "until", until, "reason", "manual")
        # A valid entry after them: once every node holds it, every node has judged them.
        self.fleet.redis_cli("XADD", stream, "*", "op", "ban", "node", "forger", "addr", marker,
                             "prefix", "32", "until", until, "reason", "manual")
        wait_until(lambda: self.banned_everywhere(marker), timeout=10, what="the marker entry applied")
        for i in range(3):
            for address in ("127.0.0.1", SERVER_V4, IGNORED):
                self.assertFalse(self.fleet.in_set(i, address), f"{address} in node {i}'s set")
            self.assertFalse(self.denied(i, self.viewer))  # 198.18.6.0/24 was refused too
            banned = {b["address"] for b in self.report(i)["bans"]}
            self.assertFalse(banned & {"127.0.0.1", SERVER_V4, IGNORED, "2001:db8::/16",
                                       "198.18.6.0"}, banned)
            log = self.log(i)
            self.assertGreaterEqual(log.count("XRG0405"), len(forged), log[-3000:])
            self.assertIn("addr=" + IGNORED, log)
            self.assertIn("-> protected", log)
            self.assertIn("-> malformed", log)

    def test_3_redis_down_every_node_bans_alone_and_resynchronises(self):
        fleet = self.fleet
        fleet.kill_redis()
        self.wait_connected(False)
        alone = self.new_address()
        # Round robin with Redis away: no node has maxretry offences of its own yet.
        for turn in range(MAXRETRY):
            self.assertTrue(self.attempt(turn % 3, alone))
        self.assertFalse(any(self.denied(i, alone) for i in range(3)))
        # Each node still bans on its own evidence, at maxretry there.
        for _ in range(MAXRETRY - 1):
            self.assertTrue(self.attempt(0, alone))
        wait_until(lambda: self.denied(0, alone) and fleet.in_set(0, alone), timeout=5,
                   what="node 0 to ban on its own window")
        self.assertFalse(fleet.in_set(1, alone))
        # And so do the two others, each on its own attacker.
        locals_ = {1: self.new_address(), 2: self.new_address()}
        for index, attacker in locals_.items():
            for _ in range(MAXRETRY):
                self.assertTrue(self.attempt(index, attacker))
            wait_until(lambda: self.denied(index, attacker) and fleet.in_set(index, attacker),
                       timeout=5, what=f"node {index} to ban on its own window")
        for index, attacker in locals_.items():
            self.assertFalse(any(fleet.in_set(other, attacker) for other in range(3) if other != index))
        fleet.start_redis()
        self.wait_connected(True)
        # The offences queued while Redis was away reach the fleet's window: the others
        # learn the ban too.
        wait_until(lambda: self.banned_everywhere(alone), timeout=15,
                   what="the queued offences to ban the address fleet-wide after the reconnect")
        for i in range(3):
            self.assertIn("XRG0402", self.log(i))
            self.assertIn("XRG0401", self.log(i))
            # A node whose first connection came up before its second said nothing went
            # down (it once logged XRG0402 with "(null)" for a reason at every start).
            self.assertNotIn("(null)", self.log(i))
        # And a new round-robin attacker is banned fleet-wide again.
        again = self.new_address()
        read = sum(self.attempt(turn % 3, again) for turn in range(MAXRETRY))
        self.assertEqual(read, MAXRETRY)
        wait_until(lambda: self.banned_everywhere(again), timeout=10,
                   what="a new ban to spread after the reconnect")
        self.assertFalse(self.attempt(0, again))

    def test_4_a_restarted_node_reads_the_stream_on_from_where_it_left_off(self):
        fleet = self.fleet
        fleet.nodes[2].stop()
        attacker = self.new_address()
        for turn in range(MAXRETRY):
            self.assertTrue(self.attempt(turn % 2, attacker))
        wait_until(lambda: all(self.denied(i, attacker) for i in range(2)), timeout=10,
                   what="nodes 0 and 1 to ban")
        generations = fleet.nodes[2].generations()
        fleet.nodes[2].start()
        wait_until(lambda: fleet.nodes[2].generations() > generations, timeout=15,
                   what="node 2 to start again")
        wait_until(lambda: self.denied(2, attacker) and fleet.in_set(2, attacker), timeout=15,
                   what="the restarted node to apply the ban made while it was down")
        # From the id its helper saved at the stop, not from the start of the bantime.
        self.assertRegex(self.log(2), r"XRG0408: .* reading the ban stream from \d+-\d+")

    def test_5_after_a_graceful_restart_a_node_is_back_in_the_fleet(self):
        node = self.fleet.nodes[0]
        node.graceful()
        self.wait_connected(True)
        attacker = self.new_address()
        for turn in (1, 2, 0):
            self.assertTrue(self.attempt(turn, attacker))
        wait_until(lambda: self.banned_everywhere(attacker), timeout=10,
                   what="a ban to spread after node 0's graceful restart")

    def test_6_an_operators_unban_on_one_node_lifts_the_ban_everywhere(self):
        attacker = self.new_address()
        for turn in range(MAXRETRY):
            self.assertTrue(self.attempt(turn % 3, attacker))
        wait_until(lambda: self.banned_everywhere(attacker), timeout=10, what="the fleet ban")
        answer = subprocess.run([CTL, "--socket", os.path.join(self.fleet.nodes[1].workdir,
                                                               "control.sock"), "unban", attacker],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(answer.returncode, 0, answer.stdout + answer.stderr)
        wait_until(lambda: not any(self.denied(i, attacker) or self.fleet.in_set(i, attacker)
                                   for i in range(3)), timeout=10,
                   what="the unban to reach every node's table and kernel set")
        # The fleet's window of the address went with it: counting starts afresh.
        self.assertTrue(self.attempt(0, attacker))
        self.assertFalse(any(self.denied(i, attacker) for i in range(3)))


    def test_7_an_operators_flush_on_one_node_lifts_every_ban_everywhere(self):
        attackers = [self.new_address(), self.new_address()]
        for attacker in attackers:
            for turn in range(MAXRETRY):
                self.assertTrue(self.attempt(turn % 3, attacker))
        wait_until(lambda: all(self.banned_everywhere(a) for a in attackers), timeout=10,
                   what="two fleet bans")
        answer = subprocess.run([CTL, "--socket", os.path.join(self.fleet.nodes[2].workdir,
                                                               "control.sock"), "flush"],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(answer.returncode, 0, answer.stdout + answer.stderr)
        wait_until(lambda: not any(self.denied(i, a) or self.fleet.in_set(i, a)
                                   for i in range(3) for a in attackers), timeout=10,
                   what="the flush to reach every node")

    def test_8_a_redis_that_stops_answering_stalls_no_node(self):
        sleeper = self.net.start(self.net.server, [
            "redis-cli", "-p", str(REDIS_PORT), "--no-auth-warning", "-a", PASSWORD,
            "DEBUG", "SLEEP", "4"], stdout=subprocess.DEVNULL)
        attacker = self.new_address()
        started = time.monotonic()
        for _ in range(MAXRETRY):
            self.assertTrue(self.attempt(1, attacker))
        wait_until(lambda: self.denied(1, attacker) and self.fleet.in_set(1, attacker), timeout=3,
                   what="node 1 to ban on its own window while Redis sleeps")
        self.assertIsNone(sleeper.poll(), "Redis woke before the node banned: nothing was shown")
        self.assertLess(time.monotonic() - started, 4)
        sleeper.wait(10)
        self.wait_connected(True)
        # What the node sent while Redis slept reaches the fleet afterwards.
        wait_until(lambda: self.banned_everywhere(attacker), timeout=15,
                   what="the ban to spread once Redis answers again")


    def test_9_a_password_file_others_may_read_is_not_used(self):
        fleet = self.fleet
        loose = os.path.join(fleet.workdir, "loose.password")
        with open(loose, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(loose, 0o644)  # httpd's User (PHP) could read it, and lift every node's bans
        nodedir = os.path.join(fleet.workdir, "node-loose")
        os.mkdir(nodedir, 0o755)
        docroot = copy_backend(nodedir)
        index = 3
        config = node_config(0, nodedir, docroot, fleet.fpm_socket, loose, fleet.name_key_file)
        config = config.replace("xrgnode0", f"xrgnode{index}").replace(str(PORTS[0]), "8004")
        httpd = Httpd(self.net, nodedir, "fpm", config, port=8004)
        fleet.nodes.append(httpd)  # stopped with the fleet
        httpd.start()
        wait_until(lambda: "XRG0407" in httpd.read_error_log(), timeout=10, what="XRG0407")
        self.assertIn("nobody else may read", httpd.read_error_log())
        wait_until(lambda: "XRG0402" in httpd.read_error_log(), timeout=10,
                   what="the node to say Redis refused it")
        self.assertNotIn("XRG0401", httpd.read_error_log())

    # -- issue 17: what a compromised Redis may make a node do, bounded and counted --
    def counters(self, index):
        return self.report(index)["counters"]

    def forge(self, lua, *args):
        """Runs `lua` in Redis (KEYS[1] is the stream): many entries appended at once, as
        whoever holds Redis's password could."""
        answer = self.fleet.redis_cli("EVAL", lua, "1", PREFIX + "bans", *args)
        self.assertEqual(answer.returncode, 0, answer.stdout + answer.stderr)
        self.assertNotIn("ERR", answer.stdout)

    def forge_bans(self, net16, third, count, seconds):
        """`count` forged stream bans of net16.third.0 onwards, `seconds` long; their addresses."""
        self.forge("""
for i = 0, ARGV[4] - 1 do
  redis.call('XADD', KEYS[1], '*', 'op', 'ban', 'node', 'forger', 'addr',
             ARGV[2] .. '.' .. (ARGV[3] + math.floor(i / 256)) .. '.' .. (i % 256), 'prefix', '32',
             'until', ARGV[1], 'reason', 'manual')
end
return 0""", str(int(time.time()) + seconds), net16, str(third), str(count))
        return [f"{net16}.{third + i // 256}.{i % 256}" for i in range(count)]

    def test_9a_a_flood_of_forged_unbans_cannot_lift_every_ban_at_once(self):
        kept, marker = self.new_address(), self.new_address()
        until = str(int(time.time()) + 300)
        self.fleet.redis_cli("XADD", PREFIX + "bans", "*", "op", "ban", "node", "forger", "addr", kept,
                             "prefix", "32", "until", until, "reason", "manual")
        wait_until(lambda: self.banned_everywhere(kept), timeout=10, what="the forged ban applied")
        # 300 unbans, then one of `kept`, then a ban of `marker`: once the marker is held
        # everywhere, every node has judged the unbans before it.
        self.forge("""
for i = 1, 300 do
  redis.call('XADD', KEYS[1], '*', 'op', 'unban', 'node', 'forger', 'addr',
             '198.18.250.' .. (i % 250), 'prefix', '32')
end
redis.call('XADD', KEYS[1], '*', 'op', 'unban', 'node', 'forger', 'addr', ARGV[1], 'prefix', '32')
redis.call('XADD', KEYS[1], '*', 'op', 'ban', 'node', 'forger', 'addr', ARGV[2], 'prefix', '32',
           'until', ARGV[3], 'reason', 'manual')
return 0""", kept, marker, until)
        wait_until(lambda: self.banned_everywhere(marker), timeout=15, what="the marker entry applied")
        for i in range(3):
            self.assertTrue(self.denied(i, kept) and self.fleet.in_set(i, kept),
                            f"node {i}: the ban was lifted by the 301st unban in a second")
            self.assertGreaterEqual(self.counters(i)["cluster_lifts_refused"], 150)
            self.assertIn("XRG0409", self.log(i))
            metrics = self.client.get(STATUS + "?metrics", self.viewer, VHOST, port=PORTS[i])["body"]
            self.assertRegex(metrics, r'xmlrpcguard_cluster_entries_total\{result="lift_refused"\} [1-9]')

    def test_9b_forged_bans_over_the_rate_ceiling_are_kept_and_applied_later(self):
        # The stream's share of the helper's ceiling is 1000 at once, then 100 a second:
        # 1200 stream bans in one go leave 200 over it, which used to be dropped.
        last = self.forge_bans("198.18", 100, 1200, seconds=120)[-10:]
        for i in range(3):
            wait_until(lambda: all(self.fleet.in_set(i, a) for a in last), timeout=20,
                       what=f"node {i} to apply the bans kept over the ceiling")
            self.assertGreater(self.counters(i)["cluster_bans_deferred"], 0)
            self.assertIn("XRG0410", self.log(i))

    def test_9k_bans_kept_over_the_ceiling_outlive_a_restart_of_the_node(self):
        # 3000 stream bans at once: 1000 applied, 2000 kept (100 a second). Node 0 stops
        # while most still wait; its stream position is past them, so only the resume
        # file (XRG0415 at the start) brings them back after the restart.
        node = self.fleet.nodes[0]
        deferred = self.counters(0)["cluster_bans_deferred"]
        last = self.forge_bans("198.19", 20, 3000, seconds=180)[-10:]
        wait_until(lambda: self.counters(0)["cluster_bans_deferred"] >= deferred + 1500,
                   timeout=20, what="node 0 to keep the bans over the ceiling")
        self.assertFalse(any(self.fleet.in_set(0, a) for a in last))
        node.stop()
        with open(os.path.join(node.workdir, "guard.state.cluster")) as f:
            resume = f.read().splitlines()
        # The id, then the kept bans: the last ones among them (still waiting).
        kept = {line.split()[0] for line in resume[1:] if line.split()}
        self.assertTrue(set(last) <= kept, f"{len(resume) - 1} kept bans saved, the last missing")
        generations = node.generations()
        node.start()
        wait_until(lambda: node.generations() > generations, timeout=15, what="node 0 to start")
        wait_until(lambda: all(self.fleet.in_set(0, a) for a in last), timeout=40,
                   what="node 0 to apply, after its restart, the bans kept before it")
        self.assertIn("XRG0415", self.log(0))

    # -- fleet-wide user-name locks --
    def checks(self):
        """Password checks that reached PHP, on all three nodes (each has its backend)."""
        total = 0
        for httpd in self.fleet.nodes[:3]:
            path = os.path.join(httpd.workdir, "htdocs", "flags", "checks")
            total += sum(1 for _ in open(path)) if os.path.exists(path) else 0
        return total

    def locked_names(self, index):
        return self.report(index)["user_names"]["locked"]

    def guess(self, index, user, password, src):
        return self.client.post("/xmlrpc.php", login_call(password, user), src, VHOST,
                                port=PORTS[index])

    def test_9c_a_name_guessed_round_robin_is_locked_on_every_node(self):
        user = "fleetvictim"
        owner = self.new_address()
        for i in range(3):  # the owner has logged in through every node
            self.assertNotIn("<fault>", self.guess(i, user, "right", owner)["body"])
        locked_before = [self.locked_names(i) for i in range(3)]
        before = self.checks()
        # One guess per address (never an address's maxretry), taking turns over the nodes:
        # no node sees more than two failures of the name.
        for turn in range(USER_MAXRETRY + 1):
            answer = self.guess(turn % 3, user, f"bad{turn}", self.new_address())
            self.assertIn("<int>403</int>", answer["body"])
        self.assertEqual(self.checks() - before, USER_MAXRETRY + 1)
        wait_until(lambda: all(self.locked_names(i) == locked_before[i] + 1 for i in range(3)),
                   timeout=10, what="the name locked on every node by the fleet's window")
        before = self.checks()
        for turn in range(6):
            answer = self.guess(turn % 3, user, f"more{turn}", self.new_address())
            self.assertEqual(answer["status"], 200)
            self.assertIn("<int>403</int>", answer["body"])
        self.assertEqual(self.checks() - before, 0, "a guess reached PHP after the fleet lock")
        for i in range(3):
            self.assertIn('user="fleetvictim"', "".join(
                line for line in self.log(i).splitlines() if "XRG0301" in line))
            # A lock entry is logged as applied, never as bans lifted (XRG0411).
            lines = [line for line in self.log(i).splitlines() if "op=lock" in line]
            self.assertTrue(any("XRG0404" in line and "-> applied" in line for line in lines)
                            or not lines, lines)
            self.assertFalse([line for line in lines if "XRG0411" in line])
        # The owner's trusted address still logs in through every node.
        before = self.checks()
        for i in range(3):
            self.assertNotIn("<fault>", self.guess(i, user, "right", owner)["body"])
        self.assertEqual(self.checks() - before, 3)
        # Redis saw no name: only hashes.
        keys = self.fleet.redis_cli("--scan", "--pattern", PREFIX + "u:*").stdout
        self.assertTrue(keys.strip())
        self.assertNotIn(user, keys)

    def test_9e_redis_down_names_lock_per_node_and_the_fleet_catches_up(self):
        fleet, user = self.fleet, "outagevictim"
        fleet.kill_redis()
        self.wait_connected(False)
        locked_before = [self.locked_names(i) for i in range(3)]
        before = self.checks()
        # Redis away: node 0 counts the name alone and locks it at its own threshold.
        for turn in range(USER_MAXRETRY + 1):
            self.guess(0, user, f"bad{turn}", self.new_address())
        self.assertEqual(self.checks() - before, USER_MAXRETRY + 1)
        self.assertEqual(self.locked_names(0), locked_before[0] + 1)
        self.assertEqual([self.locked_names(i) for i in (1, 2)], locked_before[1:])
        fleet.start_redis()
        self.wait_connected(True)
        # The queued failures reach the fleet's window and cross it: the lock entry comes
        # back to nodes 1 and 2, which have never seen the name. Each applies it at the
        # name's first failure there: one more check per node, then none.
        wait_until(lambda: fleet.redis_cli("XLEN", PREFIX + "bans").stdout.strip() not in ("", "0"),
                   timeout=15, what="the lock entry on the restarted Redis's stream")
        for index in (1, 2):
            before = self.checks()
            self.guess(index, user, "first-here", self.new_address())
            self.assertEqual(self.checks() - before, 1)
            wait_until(lambda: self.locked_names(index) == locked_before[index] + 1, timeout=10,
                       what=f"node {index} to apply the kept fleet lock")
            before = self.checks()
            answer = self.guess(index, user, "second-here", self.new_address())
            self.assertIn("<int>403</int>", answer["body"])
            self.assertEqual(self.checks() - before, 0)


    def test_9f_forged_name_locks_are_judged_and_bounded_and_hold_back_no_real_one(self):
        refused = [self.counters(i)["cluster_entries_refused"] for i in range(3)]
        marker = self.new_address()
        until = str(int(time.time()) + USER_LOCKTIME - 5)
        # A lock of ten years, 3000 lock entries in one go, then a ban of `marker`: once
        # the marker is held everywhere, every node has judged the locks before it.
        self.forge("""
redis.call('XADD', KEYS[1], '*', 'op', 'lock', 'node', 'forger', 'name', '00000000000000aa',
           'until', ARGV[3])
for i = 1, 3000 do
  redis.call('XADD', KEYS[1], '*', 'op', 'lock', 'node', 'forger', 'name',
             string.format('%016x', 4096 + i), 'until', ARGV[1])
end
redis.call('XADD', KEYS[1], '*', 'op', 'ban', 'node', 'forger', 'addr', ARGV[2], 'prefix', '32',
           'until', ARGV[1], 'reason', 'manual')
return 0""", until, marker, str(int(time.time()) + 3650 * 86400))
        wait_until(lambda: self.banned_everywhere(marker), timeout=15, what="the marker entry applied")
        for i in range(3):
            grew = self.counters(i)["cluster_entries_refused"] - refused[i]
            # A burst of 1000 locks (kept: no node has seen those names), then 100 a
            # second: most of the 3000 are refused, however slowly the loop reads them.
            self.assertGreaterEqual(grew, 1000, f"node {i}")
            self.assertLess(self.log(i).count("XRG0405"), 100, "refusals logged without bound")
            self.assertIn("a lock longer than any XmlRpcGuardUserLockTime", self.log(i))
        # Unknown hashes locked nothing.
        owner = self.new_address()
        self.assertNotIn("<fault>", self.guess(1, "someone-else", "right", owner)["body"])
        # The flood spent the ceiling on locks of names a node has not seen; a real
        # attack on a name every node sees is still locked everywhere at once.
        locked_before = [self.locked_names(i) for i in range(3)]
        before = self.checks()
        for turn in range(USER_MAXRETRY + 1):
            self.guess(turn % 3, "afterflood", f"bad{turn}", self.new_address())
        wait_until(lambda: all(self.locked_names(i) == locked_before[i] + 1 for i in range(3)),
                   timeout=10, what="the real lock applied on every node after the flood")
        self.assertEqual(self.checks() - before, USER_MAXRETRY + 1)

if __name__ == "__main__":
    unittest.main()
