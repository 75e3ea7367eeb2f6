"""prefork MPM + mod_php: the guard's core behaviour with PHP inside httpd."""

import unittest

from guard_cases import GUARDED, GuardCases
from xrg_harness import GuardedServer, skip_unless_ready


class PreforkModPhpSuite(GuardCases, unittest.TestCase):
    SUBNET = "198.18.6"

    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.server = GuardedServer("php", "modphp", {GUARDED: "XmlRpcGuard On"})

    @classmethod
    def tearDownClass(cls):
        cls.server.close()


if __name__ == "__main__":
    unittest.main()
