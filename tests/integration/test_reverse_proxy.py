"""A reverse-proxy vhost: mod_proxy_http in front of a backend (here an unguarded
loopback vhost of the same httpd, served by PHP-FPM). The guard sees the body as
mod_proxy_http reads it and the answer as it streams back from the backend."""

import unittest

from guard_cases import GUARDED, GuardCases
from xrg_harness import GuardedServer, skip_unless_ready


class ReverseProxySuite(GuardCases, unittest.TestCase):
    SUBNET = "198.18.7"

    @classmethod
    def setUpClass(cls):
        skip_unless_ready()
        cls.server = GuardedServer("proxy", "proxy", {GUARDED: "XmlRpcGuard On"})

    @classmethod
    def tearDownClass(cls):
        cls.server.close()


if __name__ == "__main__":
    unittest.main()
