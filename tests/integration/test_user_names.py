"""Who is being guessed: a dictionary attack spread over many addresses, each below
XmlRpcGuardMaxRetry, against one user name. After XmlRpcGuardUserMaxRetry failures of
the name the guard answers its attempts itself (WordPress's 403 fault, the failed-login
page) and no password check reaches PHP (the test backend appends a line to
flags/checks for each one); the owner's address, trusted by its successful login, goes
on working; the spellings that reach the same account meet the same lock; the
site-wide alarm turns on and off; DetectOnly only reports. event MPM + PHP-FPM, and
prefork + mod_php."""

import json
import os
import unittest

from netns import SERVER_V4, wait_until
from xrg_harness import (MODULES_DIR, Client, GuardedServer, call, count_lines, multicall,
                         skip_unless_ready)

USERS = "users.test"
ALARM = "alarm.test"
DETECT = "detect.test"
OFF = "off.test"
COMMON = "XmlRpcGuardUsers On\nXmlRpcGuardMaxRetry 3\nXmlRpcGuardAlarmFactor 0\n"
VHOSTS = {
    USERS: "XmlRpcGuard On\n" + COMMON + "XmlRpcGuardUserMaxRetry 5\nXmlRpcGuardUserFindTime 10m\n"
           "XmlRpcGuardUserLockTime 10m\nXmlRpcGuardAlarmRate 0\nXmlRpcGuardTrustIP 198.18.9.9\n"
           "<Location /xrg-status>\n  SetHandler xmlrpcguard-status\n</Location>",
    ALARM: "XmlRpcGuard On\n" + COMMON + "XmlRpcGuardUserMaxRetry 15\nXmlRpcGuardAlarmRate 6 4s\n"
           "<Location /xrg-status>\n  SetHandler xmlrpcguard-status\n</Location>",
    DETECT: "XmlRpcGuard DetectOnly\n" + COMMON + "XmlRpcGuardUserMaxRetry 3\nXmlRpcGuardAlarmRate 0",
    OFF: "XmlRpcGuard On\n" + COMMON + "XmlRpcGuardUsers Off",
}
FAULT_403 = "<int>403</int>"


def address(block, host):
    return f"198.18.{block}.{host}"


class UserNames(unittest.TestCase):
    KIND = "fpm"

    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.server = GuardedServer("users-" + cls.KIND, cls.KIND, VHOSTS,
                                   "XmlRpcGuardBanTime 1h\nXmlRpcGuardUserTableSize 1024")
        cls.net = cls.server.net
        cls.added = set()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def setUp(self):
        self.client = Client(self.net)
        self.addCleanup(self.client.close, self.net)
        if os.environ.get("XRG_DEBUG_LOG"):
            self.addCleanup(lambda: print(self.server.log()[-6000:]))

    # -- helpers --
    def src(self, block, host):
        a = address(block, host)
        if a not in self.added:
            self.net.add_client_address(a)
            self.added.add(a)
        return a

    def checks(self):
        path = os.path.join(self.server.docroot, "flags", "checks")
        return sum(1 for _ in open(path)) if os.path.exists(path) else 0

    def xmlrpc(self, body, src, vhost=USERS):
        return self.client.post("/xmlrpc.php", body, src=src, vhost=vhost)

    def guess(self, user, password, src, vhost=USERS):
        return self.xmlrpc(call("wp.getUsersBlogs", user, password), src, vhost)

    def form(self, fields, src, vhost=USERS):
        return self.client.request(method="POST", path="/wp-login.php", body=fields, src=src,
                                   vhost=vhost,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})

    def attack(self, user, addresses, vhost=USERS, per_address=1):
        """Each address guesses `per_address` times (below XmlRpcGuardMaxRetry)."""
        answers = []
        for src in addresses:
            for n in range(per_address):
                answers.append(self.guess(user, f"bad{n}", src, vhost))
        return answers

    # -- cases --
    def test_distributed_attack_stops_reaching_php_owner_keeps_working(self):
        owner = self.src(20, 1)
        ok = self.guess("victim", "right", owner)
        self.assertNotIn("<fault>", ok["body"])
        before = self.checks()
        bots = [self.src(21, h) for h in range(1, 41)]
        answers = self.attack("victim", bots)
        reached = self.checks() - before
        # Five failures are allowed, the sixth locks the name: at most six checks.
        self.assertLessEqual(reached, 6, f"{reached} password checks reached PHP")
        self.assertGreaterEqual(reached, 5)
        for answer in answers:  # every attempt looks like WordPress's own failure
            self.assertEqual(answer["status"], 200)
            self.assertIn(FAULT_403, answer["body"])
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0302: user name locked", 'user="victim"'), 1, log)
        self.assertGreaterEqual(count_lines(log, "XRG0301", 'user="victim"', "because=name_locked"),
                                30)
        self.assertNotIn("victim\"", "".join(l for l in log.splitlines() if "XRG0301" in l
                                            and "client=" + owner in l))
        # The owner's trusted address still logs in, and its checks reach PHP.
        before = self.checks()
        for _ in range(3):
            ok = self.guess("victim", "right", owner)
            self.assertNotIn("<fault>", ok["body"], ok)
        self.assertEqual(self.checks() - before, 3)
        # A new address with the right password is answered like an attacker while
        # the name is locked (documented): no password is checked for it.
        before = self.checks()
        newcomer = self.guess("victim", "right", self.src(20, 2))
        self.assertIn(FAULT_403, newcomer["body"])
        self.assertEqual(self.checks() - before, 0)
        # The allow-list is trusted for every name.
        listed = self.guess("victim", "right", self.src(9, 9))
        self.assertNotIn("<fault>", listed["body"])
        # Other names are not locked.
        other = self.guess("someone", "right", self.src(20, 3))
        self.assertNotIn("<fault>", other["body"])

    def test_spellings_of_the_locked_name_meet_the_lock(self):
        bots = [self.src(22, h) for h in range(1, 7)]
        self.attack("Evader", bots)
        attempts = {
            "upper": call("wp.getUsersBlogs", "EVADER", "x"),
            "spaces": call("wp.getUsersBlogs", "  evader\n", "x"),
            "entity": call("wp.getUsersBlogs", "&#101;vader", "x"),
            "tags": call("wp.getUsersBlogs", "<b>ev</b>ader".replace("<", "&lt;").replace(">", "&gt;"), "x"),
            "position": call("wp.getPosts", "1", "evader", "x"),
            "blogger": call("blogger.getPost", "key", "1", "evader", "x"),
            "untyped": '<?xml version="1.0"?><methodCall><methodName>wp.getUsersBlogs</methodName>'
                       "<params><param><value>evader</value></param><param><value>x</value></param>"
                       "</params></methodCall>",
            "one array": '<?xml version="1.0"?><methodCall><methodName>wp.getUsersBlogs</methodName>'
                         "<params><param><value><array><data><value>evader</value><value>x</value>"
                         "</data></array></value></param></params></methodCall>",
            "name last": '<?xml version="1.0"?><methodCall><params><param><value>evader</value></param>'
                         "<param><value>x</value></param></params>"
                         "<methodName>wp.getUsersBlogs</methodName></methodCall>",
            "multicall own first": multicall([("wp.getUsersBlogs", ["me", "right"]),
                                              ("wp.getUsersBlogs", ["evader", "x"])]),
        }
        for label, body in attempts.items():
            with self.subTest(label):
                before = self.checks()
                answer = self.xmlrpc(body, self.src(23, 1 + list(attempts).index(label)))
                self.assertIn(FAULT_403, answer["body"], answer)
                self.assertEqual(self.checks() - before, 0, f"{label}: a check reached PHP")
        forms = {
            "form": "log=evader&pwd=x",
            "form case": "log=EVADER&pwd=x",
            "form plus": "log=+evader+&pwd=x",
            "form escape": "%6Cog=%45vader&pwd=x",
            "form last wins": "log=nobody&pwd=x&log=evader",
            "form name after": "pwd=x&log=evader",
        }
        for label, fields in forms.items():
            with self.subTest(label):
                before = self.checks()
                answer = self.form(fields, self.src(24, 1 + list(forms).index(label)))
                self.assertEqual(answer["status"], 200, answer)
                self.assertIn('id="login_error"', answer["body"])
                self.assertEqual(self.checks() - before, 0, f"{label}: a check reached PHP")

    def test_names_padded_past_any_account_meet_one_lock(self):
        # sanitize_user() deletes octets and tags however many: WordPress reaches
        # "padded" behind any padding, so every name past 128 bytes is one name here.
        bots = [self.src(25, h) for h in range(1, 7)]
        self.attack("%41" * 43 + "padded", bots)  # five reach PHP, the sixth locks it
        before = self.checks()
        for n, padding in enumerate(["%42" * 50, "&lt;b&gt;" * 45, " " * 10 + "%41" * 43]):
            answer = self.guess(padding + "padded", "x", self.src(25, 10 + n))
            self.assertIn(FAULT_403, answer["body"], answer)
        self.assertEqual(self.checks() - before, 0, "a padded guess reached PHP")
        # A name that fits is its own name.
        other = self.guess("padded", "right", self.src(25, 20))
        self.assertNotIn("<fault>", other["body"], other)

    def test_a_slow_tail_cannot_carry_a_complete_body_past_the_check(self):
        # The whole call in the first piece, white space (or a comment after the root)
        # later: the scanner may only see the name when the rest arrives, and by then
        # PHP must not hold a complete body. Likewise a form whose last field is `log`.
        self.attack("slowtail", [self.src(36, h) for h in range(1, 7)])
        doc = call("wp.getUsersBlogs", "slowtail", "x")
        form = "pwd=x&log=slowtail"
        for n, (path, body, first, kind) in enumerate([
                ("/xmlrpc.php", doc + " " * 40, len(doc), "text/xml"),
                ("/xmlrpc.php", doc + "<!-- -->" + " " * 40, len(doc) + 4, "text/xml"),
                ("/wp-login.php", form + "&", len(form), "application/x-www-form-urlencoded"),
                ("/wp-login.php", form, len(form) - 1, "application/x-www-form-urlencoded")]):
            with self.subTest(n=n):
                before = self.checks()
                answer = self.client.request(method="POST", path=path, body=body,
                                             src=self.src(36, 100 + n), vhost=USERS,
                                             headers={"Content-Type": kind}, chunk_size=first,
                                             pause_ms=300)
                self.assertEqual(answer["status"], 200, answer)
                self.assertEqual(self.checks() - before, 0, answer)

    def test_a_multipart_login_form_is_answered_while_protection_is_on(self):
        # PHP parses multipart/form-data too; the guard does not read its `log`, so while
        # a name is locked such a login POST (no browser sends one) is answered.
        self.attack("multipart", [self.src(37, h) for h in range(1, 7)])
        boundary = "xrgboundary"
        body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                       for k, v in (("log", "multipart"), ("pwd", "x"))) + f"--{boundary}--\r\n"
        before = self.checks()
        answer = self.client.request(
            method="POST", path="/wp-login.php", body=body, src=self.src(37, 100), vhost=USERS,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        self.assertEqual(answer["status"], 200, answer)
        self.assertIn('id="login_error"', answer["body"])
        self.assertEqual(self.checks() - before, 0)
        self.assertIn("because=form_not_urlencoded", self.server.log())

    def test_login_form_attack_and_form_trust(self):
        owner = self.src(25, 1)
        ok = self.form("log=formowner&pwd=right", owner)
        self.assertEqual(ok["status"], 302)
        before = self.checks()
        for h in range(1, 21):
            self.form(f"log=formowner&pwd=bad{h}", self.src(26, h))
        self.assertLessEqual(self.checks() - before, 6)
        before = self.checks()
        ok = self.form("log=formowner&pwd=right", owner)
        self.assertEqual(ok["status"], 302, ok)
        self.assertEqual(self.checks() - before, 1)

    def test_blocked_attempts_are_offences_of_their_sender(self):
        self.attack("banme", [self.src(27, h) for h in range(1, 7)])
        bot = self.src(27, 50)
        for n in range(3):  # XmlRpcGuardMaxRetry 3: the third answered attempt bans
            answer = self.guess("banme", f"x{n}", bot)
            self.assertIn(FAULT_403, answer["body"])
        denied = self.guess("banme", "x", bot)
        self.assertEqual(denied["status"], 403, denied)

    def test_alarm_turns_on_for_every_name_and_off_again(self):
        owner = self.src(30, 1)
        self.assertNotIn("<fault>", self.guess("alarmowner", "right", owner, ALARM)["body"])
        # Six failures within the period, each for another name from another address.
        for h in range(1, 7):
            self.guess(f"name{h}", "bad", self.src(31, h), ALARM)
        before = self.checks()
        blocked = self.guess("freshname", "bad", self.src(31, 100), ALARM)
        self.assertIn(FAULT_403, blocked["body"])
        self.assertEqual(self.checks() - before, 0)
        trusted = self.guess("alarmowner", "right", owner, ALARM)
        self.assertNotIn("<fault>", trusted["body"])
        self.assertEqual(count_lines(self.server.log(), "XRG0303: site-wide alarm on"), 1)
        # Attempts during the alarm count too; once the rate has fallen (the status
        # page says so, a GET counts nothing), an untrusted attempt is checked again.
        def alarm():
            page = self.client.get("/xrg-status?json", src=self.src(31, 200), vhost=ALARM)
            return json.loads(page["body"])["user_names"]["alarm"]["on"]
        self.assertTrue(alarm())
        wait_until(lambda: not alarm(), timeout=20, interval=0.5, what="the alarm to turn off")
        before = self.checks()
        latecomer = self.guess("latecomer", "right", self.src(31, 101), ALARM)
        self.assertNotIn("<fault>", latecomer["body"])
        self.assertEqual(self.checks() - before, 1)
        self.assertEqual(count_lines(self.server.log(), "XRG0304: site-wide alarm off"), 1)

    def test_locks_and_trust_survive_a_graceful_restart(self):
        owner = self.src(35, 1)
        self.assertNotIn("<fault>", self.guess("restarted", "right", owner)["body"])
        self.attack("restarted", [self.src(35, h) for h in range(10, 16)])
        self.server.graceful()
        self.assertIn("user table of 1024 names kept across the restart", self.server.log())
        before = self.checks()
        self.assertIn(FAULT_403, self.guess("restarted", "right", self.src(35, 2))["body"])
        self.assertNotIn("<fault>", self.guess("restarted", "right", owner)["body"])
        self.assertEqual(self.checks() - before, 1)  # the owner's

    def test_detect_only_reports_without_acting(self):
        before = self.checks()
        self.attack("watched", [self.src(32, h) for h in range(1, 9)], DETECT)
        self.assertEqual(self.checks() - before, 8)
        log = self.server.log()
        self.assertEqual(count_lines(log, "XRG0302: detect-only: would lock", 'user="watched"'), 1)
        self.assertGreaterEqual(count_lines(log, "XRG0306: detect-only: would answer", 'user="watched"'), 4)

    def test_off_lets_every_check_through(self):
        before = self.checks()
        self.attack("plain", [self.src(33, h) for h in range(1, 21)], OFF)
        self.assertEqual(self.checks() - before, 20)

    def test_status_page_shows_locks_without_names(self):
        self.attack("statususer", [self.src(34, h) for h in range(1, 8)])
        page = self.client.get("/xrg-status?json", src=self.src(34, 100), vhost=USERS)
        self.assertEqual(page["status"], 200, page)
        self.assertIn('"user_names"', page["body"])
        self.assertNotIn("statususer", page["body"])
        metrics = self.client.get("/xrg-status?metrics", src=self.src(34, 100), vhost=USERS)
        self.assertIn("xmlrpcguard_user_names_locked", metrics["body"])


class UserDirectives(unittest.TestCase):
    """`apache2 -t` names the directive and the bad value; the documented forms pass."""

    @classmethod
    def setUpClass(cls):
        skip_unless_ready()

    def test_bad_values_are_refused_good_ones_accepted(self):
        from test_configtest import configtest
        refused = [
            ("XmlRpcGuardUsers Maybe", "XmlRpcGuardUsers", "Maybe"),
            ("XmlRpcGuardUserMaxRetry 0", "XmlRpcGuardUserMaxRetry", "'0'", "from 1 to 15"),
            ("XmlRpcGuardUserMaxRetry 16", "XmlRpcGuardUserMaxRetry", "16"),
            ("XmlRpcGuardUserFindTime 0", "XmlRpcGuardUserFindTime", "'0'"),
            ("XmlRpcGuardUserLockTime 10x", "XmlRpcGuardUserLockTime", "10x"),
            ("XmlRpcGuardTrustTime 400d", "XmlRpcGuardTrustTime", "400d"),
            ("XmlRpcGuardTrustIP 198.18.0.0/99", "XmlRpcGuardTrustIP", "198.18.0.0/99"),
            ("XmlRpcGuardAlarmRate many", "XmlRpcGuardAlarmRate", "many"),
            ("XmlRpcGuardAlarmRate 10 2h", "XmlRpcGuardAlarmRate", "2h"),
            ("XmlRpcGuardAlarmFactor 1", "XmlRpcGuardAlarmFactor", "'1'"),
            ("XmlRpcGuardUserTableSize 10", "XmlRpcGuardUserTableSize", "'10'"),
            ("<VirtualHost *:80>\nXmlRpcGuardUserTableSize 1024\n</VirtualHost>",
             "XmlRpcGuardUserTableSize", "VirtualHost"),
        ]
        for body, *words in refused:
            with self.subTest(body):
                code, output = configtest(body)
                self.assertNotEqual(code, 0, output)
                for word in words:
                    self.assertIn(word, output)
        code, output = configtest(
            "XmlRpcGuard On\nXmlRpcGuardUsers On\nXmlRpcGuardUserMaxRetry 15\n"
            "XmlRpcGuardUserFindTime 10m\nXmlRpcGuardUserLockTime 1h\nXmlRpcGuardTrustTime 30d\n"
            "XmlRpcGuardTrustIP 198.18.0.0/15 2001:db8::/32\nXmlRpcGuardAlarmRate 0\n"
            "XmlRpcGuardAlarmRate 60 1m\nXmlRpcGuardAlarmFactor 0\nXmlRpcGuardUserTableSize 64")
        self.assertEqual(code, 0, output)


class UserNamesOverHttp2(unittest.TestCase):
    """A locked name's attempt over HTTP/2 (h2c, mod_http2, curl) is cut and answered
    on its own stream like over HTTP/1.1."""

    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.server = GuardedServer(
            "users-h2", "fpm", {USERS: VHOSTS[USERS]}, "Protocols h2c http/1.1",
            extra_modules=[("http2", f"{MODULES_DIR}/mod_http2.so")])
        cls.net = cls.server.net

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def h2_guess(self, user, password, src):
        if src not in self.net.client_addresses:
            self.net.add_client_address(src)
        body = os.path.join(self.server.workdir, "h2-body.xml")
        with open(body, "w") as f:
            f.write(call("wp.getUsersBlogs", user, password))
        done = self.net.run(self.net.client, [
            "curl", "-s", "--http2-prior-knowledge", "--interface", src, "--max-time", "10",
            "-H", f"Host: {USERS}", "-H", "Content-Type: text/xml", "--data-binary", f"@{body}",
            "-w", "\n%{http_code} %{http_version}", f"http://{SERVER_V4}/xmlrpc.php"],
            check=False, capture_output=True)
        return done.stdout

    def test_locked_name_over_http2(self):
        checks = os.path.join(self.server.docroot, "flags", "checks")
        count = lambda: sum(1 for _ in open(checks)) if os.path.exists(checks) else 0
        owner = self.h2_guess("h2user", "right", address(40, 1))
        self.assertTrue(owner.endswith("200 2") and "<fault>" not in owner, owner)
        for h in range(10, 16):
            self.h2_guess("h2user", "bad", address(40, h))
        before = count()
        blocked = self.h2_guess("h2user", "right", address(40, 99))
        self.assertTrue(blocked.endswith("200 2"), blocked)
        self.assertIn(FAULT_403, blocked)
        self.assertEqual(count() - before, 0)
        owner = self.h2_guess("h2user", "right", address(40, 1))
        self.assertNotIn("<fault>", owner)
        self.assertEqual(count() - before, 1)


class UserNamesModPhp(UserNames):
    """The same through mod_php (prefork), which reads the body its own way."""
    KIND = "modphp"


if __name__ == "__main__":
    unittest.main()
