"""Real WordPress under a distributed dictionary attack: many test addresses, each
below XmlRpcGuardMaxRetry, guess one user name. WordPress's own count of failed
password checks (a must-use plugin counting `wp_login_failed`, tests/lib/wp_checks.py)
stops growing once the name has collected XmlRpcGuardUserMaxRetry failures; the
owner's address, trusted by an earlier successful login, keeps working; a new address
with the right password is answered like the attackers while the lock lasts (as
README documents); spellings of the name meet the same lock; the site-wide alarm
turns on and, once the rate falls, off."""

import json
import os
import unittest

from netns import SERVER_V4, wait_until
from wp_checks import FailedChecks
from wp_sandbox import Sandbox

USER_MAXRETRY = 10
STATUS = "<Location /xrg-status>\n  SetHandler xmlrpcguard-status\n</Location>"
GUARD = f"""XmlRpcGuard On
XmlRpcGuardMaxRetry 3
XmlRpcGuardBanTime 1h
XmlRpcGuardUserMaxRetry {USER_MAXRETRY}
XmlRpcGuardUserFindTime 1h
XmlRpcGuardUserLockTime 10m
XmlRpcGuardAlarmRate 0
XmlRpcGuardAlarmFactor 0
{STATUS}"""
ALARM_GUARD = GUARD.replace("XmlRpcGuardAlarmRate 0", "XmlRpcGuardAlarmRate 10 5s").replace(
    f"XmlRpcGuardUserMaxRetry {USER_MAXRETRY}", "XmlRpcGuardUserMaxRetry 15")
BOTS = 100


class DistributedAttack(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:  # a skip fails the suite unless XRG_ALLOW_SKIPS=1
            raise unittest.SkipTest("needs root (network namespaces)")
        cls.checks = FailedChecks()
        try:
            cls.sandbox = Sandbox("wpu", GUARD, extra_php=cls.checks.extra_php, users=True)
        except BaseException:
            cls.checks.close()
            raise
        cls.hosts = iter(range(10, 250))
        cls.password = cls.sandbox.site.admin_password
        # The blog's owner logged in before the attack: its address is trusted for admin.
        cls.owner = cls.sandbox.add_client("198.18.9.1")
        first = cls.sandbox.run_agent("getusersblogs", cls.owner, count=1, password=cls.password,
                                       timeout=30)  # a cold WordPress is slow to start
        assert [e["detail"] for e in first] == ["ok"], first

    @classmethod
    def tearDownClass(cls):
        cls.sandbox.close()
        cls.checks.close()

    def addr(self, block=9):
        return self.sandbox.add_client(f"198.18.{block}.{next(self.hosts)}")

    def details(self, events):
        return [e["detail"] for e in events]

    def botnet(self, user, addresses, per_address):
        events = self.sandbox.run_agent("botnet", addresses[0], srcs=",".join(addresses),
                                        count=per_address, user=user)
        self.assertEqual(len(events), len(addresses) * per_address)
        return events

    def status(self):
        done = self.sandbox.net.run(self.sandbox.net.client, [
            "curl", "-s", "--max-time", "5", "-H", f"Host: {self.sandbox.host}",
            f"http://{SERVER_V4}/xrg-status?json"])
        return json.loads(done.stdout)["user_names"]

    def test_1_distributed_attack_gets_few_checks_owner_keeps_working(self):
        owner = self.owner
        # A botnet spread as botnets are, one address per /24, so that no prefix ban
        # (XmlRpcGuardPrefixBan, on by default) stops it before the name is locked.
        bots = [self.sandbox.add_client(f"198.19.{h}.8") for h in range(1, BOTS + 1)]
        before = self.checks.count()
        events = self.botnet("admin", bots, 2)
        reached = self.checks.count() - before
        # The eleventh failure locks the name; a few more may be in flight meanwhile.
        self.assertGreaterEqual(reached, USER_MAXRETRY)
        self.assertLessEqual(reached, USER_MAXRETRY + 3, f"{reached} password checks reached WordPress")
        self.assertEqual(set(self.details(events)), {"fault 403"})  # all look like WordPress's
        self.assertFalse(any(self.sandbox.in_set(b) for b in bots[:5]))  # none reached maxretry
        log = self.sandbox.log()
        self.assertIn('XRG0302: user name locked user="admin"', log)
        # The owner's address logged in before: trusted, and its checks reach WordPress.
        calls = self.sandbox.run_agent("getusersblogs", owner, count=5, password=self.password)
        self.assertEqual(self.details(calls), ["ok"] * 5)
        form = self.sandbox.run_agent("login", owner, count=2, password=self.password)
        self.assertEqual(self.details(form), ["logged in"] * 2)
        # A new address with the right password is answered as a failure, unchecked.
        before = self.checks.count()
        newcomer = self.addr()
        self.assertEqual(self.details(self.sandbox.run_agent("getusersblogs", newcomer, count=1,
                                                             password=self.password)),
                         ["fault 403"])
        self.assertEqual(self.details(self.sandbox.run_agent("login", newcomer, count=1,
                                                             password=self.password)),
                         ["login_error"])
        # Spellings of the same account meet the same lock: no check reaches WordPress.
        for user in ("ADMIN", " Admin ", "admin\t"):
            self.botnet(user, [self.addr(10)], 2)
        self.assertEqual(self.checks.count() - before, 0)

    def test_2_site_wide_alarm_turns_on_and_off(self):
        self.sandbox.httpd.rewrite("LogLevel warn xmlrpcguard:info\n" +
                                   self.sandbox.site.vhost(ALARM_GUARD))
        self.sandbox.graceful()
        wait_until(lambda: self.status()["alarm"]["threshold"] == 10, timeout=10,
                   what="the new configuration")
        owner = self.owner  # admin stays locked from the first case: only trust gets through
        # Twelve failures within the period, for a name no one locks (maxretry 15).
        self.botnet("nobody", [self.addr(11) for _ in range(12)], 1)
        self.assertTrue(self.status()["alarm"]["on"])
        before = self.checks.count()
        self.assertEqual(self.details(self.sandbox.run_agent("getusersblogs", self.addr(), count=1,
                                                             user="editor")), ["fault 403"])
        self.assertEqual(self.checks.count() - before, 0)
        self.assertEqual(self.details(self.sandbox.run_agent("getusersblogs", owner, count=1,
                                                             password=self.password)), ["ok"])
        wait_until(lambda: not self.status()["alarm"]["on"], timeout=20, interval=0.5,
                   what="the alarm to turn off")
        before = self.checks.count()
        self.assertEqual(self.details(self.sandbox.run_agent("getusersblogs", self.addr(), count=1,
                                                             user="editor")), ["fault 403"])
        self.assertEqual(self.checks.count() - before, 1)  # WordPress checked it again
        log = self.sandbox.log()
        self.assertIn("XRG0303: site-wide alarm on", log)
        self.assertIn("XRG0304: site-wide alarm off", log)


if __name__ == "__main__":
    unittest.main()
