"""`apache2 -t` refuses bad values with a message naming the directive and the value,
and accepts the shipped conf/xmlrpcguard.conf and every documented value form."""

import os
import subprocess
import tempfile
import unittest

from xrg_harness import MODULE, skip_unless_ready

SOURCE = os.environ.get("XRG_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def configtest(body):
    with tempfile.TemporaryDirectory(prefix="xrg-conf-") as workdir:
        conf = os.path.join(workdir, "httpd.conf")
        with open(conf, "w") as f:
            f.write(f"""ServerRoot {workdir}
ServerName localhost
ErrorLog {workdir}/error.log
PidFile {workdir}/httpd.pid
Listen 127.0.0.1:80
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule xmlrpcguard_module {MODULE}
{body}
""")
        result = subprocess.run(["apache2", "-t", "-f", conf], capture_output=True, text=True)
        return result.returncode, result.stdout + result.stderr


class ConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        skip_unless_ready()

    def assert_refused(self, body, *words):
        code, output = configtest(body)
        self.assertNotEqual(code, 0, f"accepted: {body!r}")
        for word in words:
            self.assertIn(word, output)

    def test_bad_values_are_refused_naming_directive_and_value(self):
        cases = [
            ("XmlRpcGuard Maybe", "XmlRpcGuard", "Maybe"),
            ("XmlRpcGuardFindTime 10x", "XmlRpcGuardFindTime", "10x"),
            ("XmlRpcGuardFindTime 0", "XmlRpcGuardFindTime", "'0'"),
            ("XmlRpcGuardBanTime -1", "XmlRpcGuardBanTime", "-1"),
            ("XmlRpcGuardMaxRetry 0", "XmlRpcGuardMaxRetry", "'0'"),
            ("XmlRpcGuardMaxRetry 1000", "XmlRpcGuardMaxRetry", "1000"),
            ("XmlRpcGuardMaxRetry three", "XmlRpcGuardMaxRetry", "three"),
            ("XmlRpcGuardIgnoreIP 198.18.0.0/99", "XmlRpcGuardIgnoreIP", "198.18.0.0/99"),
            ("XmlRpcGuardIgnoreIP 198.18.0.1 not-an-address", "XmlRpcGuardIgnoreIP", "not-an-address"),
            ("XmlRpcGuardXmlRpcPath /blog/xmlrpc.php", "XmlRpcGuardXmlRpcPath", "/blog/xmlrpc.php"),
            ("XmlRpcGuardTableSize 3", "XmlRpcGuardTableSize", "'3'"),
            ("XmlRpcGuardTableSize big", "XmlRpcGuardTableSize", "big"),
            ("XmlRpcGuardIPSet bad/name", "XmlRpcGuardIPSet", "bad/name"),
            ("XmlRpcGuardIPSet none extra", "XmlRpcGuardIPSet", "extra"),
            ("XmlRpcGuardIPv6Prefix 129", "XmlRpcGuardIPv6Prefix", "129"),
            ("XmlRpcGuardIPv6Prefix 16", "XmlRpcGuardIPv6Prefix", "16", "from 32 to 128"),
            ("XmlRpcGuardControlGroup no-such-group-xrg", "XmlRpcGuardControlGroup",
             "no-such-group-xrg"),
            ("Group www-data\nXmlRpcGuardControlGroup www-data", "XmlRpcGuardControlGroup",
             "httpd's own Group"),
            ("XmlRpcGuardKernelBan maybe", "XmlRpcGuardKernelBan", "maybe"),
            ("XmlRpcGuardControlSocket /run/" + "x" * 120, "XmlRpcGuardControlSocket", "x" * 120),
            ("XmlRpcGuardCluster rediss://10.0.0.5", "XmlRpcGuardCluster", "rediss://10.0.0.5",
             "no TLS"),
            ("XmlRpcGuardCluster http://10.0.0.5", "XmlRpcGuardCluster", "http://10.0.0.5"),
            ("XmlRpcGuardCluster redis://10.0.0.5:99999", "XmlRpcGuardCluster", "99999", "port"),
            ("XmlRpcGuardCluster redis://10.0.0.5 bad/prefix", "XmlRpcGuardCluster", "bad/prefix"),
            ("XmlRpcGuardClusterPasswordFile relative.txt", "XmlRpcGuardClusterPasswordFile",
             "relative.txt"),
            ("XmlRpcGuardIPSet none\nXmlRpcGuardCluster redis://10.0.0.5", "XmlRpcGuardCluster",
             "XmlRpcGuardIPSet none"),
        ]
        for body, *words in cases:
            with self.subTest(body=body):
                self.assert_refused(body, *words)

    def test_server_wide_directives_refused_inside_virtualhost(self):
        for directive in ("XmlRpcGuardTableSize 1024", "XmlRpcGuardIPSet none",
                          "XmlRpcGuardControlSocket none", "XmlRpcGuardControlGroup adm",
                          "XmlRpcGuardCluster redis://10.0.0.5",
                          "XmlRpcGuardClusterPasswordFile /etc/x"):
            with self.subTest(directive=directive):
                self.assert_refused(f"<VirtualHost *:80>\n{directive}\n</VirtualHost>",
                                    directive.split()[0], "VirtualHost")

    def test_documented_forms_are_accepted(self):
        body = """XmlRpcGuard DetectOnly
XmlRpcGuardFindTime 3600
XmlRpcGuardBanTime 1d
XmlRpcGuardMaxRetry 1
XmlRpcGuardIgnoreIP 198.18.0.0/15 2001:db8::/32 198.18.0.7
XmlRpcGuardIPSet xmlrpcguard
XmlRpcGuardIPv6Prefix 56
XmlRpcGuardTableSize 1024
XmlRpcGuardControlSocket /run/xmlrpcguard-test.sock
XmlRpcGuardControlGroup adm
XmlRpcGuardCluster redis://guard:pw@[2001:db8::5]:6380/2 fleet1:
XmlRpcGuardClusterPasswordFile /etc/apache2/xmlrpcguard-redis.password
<VirtualHost *:80>
  XmlRpcGuardKernelBan Off
  XmlRpcGuard On
  XmlRpcGuardFindTime 10m
  XmlRpcGuardBanTime 1h
  XmlRpcGuardIgnoreIP 2001:db8:1::/48
  XmlRpcGuardXmlRpcPath rpc.php
  XmlRpcGuardLoginPath login.php
  XmlRpcGuardIPv6Prefix 128
</VirtualHost>"""
        code, output = configtest(body)
        self.assertEqual(code, 0, output)

    def test_cluster_name_key_file_is_checked_at_configuration_time(self):
        with tempfile.TemporaryDirectory(prefix="xrg-key-") as keys:
            def key_file(name, text, mode):
                path = os.path.join(keys, name)
                with open(os.open(path, os.O_WRONLY | os.O_CREAT, mode), "w") as f:
                    f.write(text)
                os.chmod(path, mode)
                return path
            good = key_file("good.key", "k" * 32 + "\n", 0o600)
            short = key_file("short.key", "k" * 31 + "\n", 0o600)
            loose = key_file("loose.key", "k" * 40 + "\n", 0o644)
            missing = os.path.join(keys, "missing.key")
            cluster = "XmlRpcGuardCluster redis://10.0.0.5\n"
            for path, why in ((missing, "cannot be opened"), (short, "at least 32 bytes"),
                              (loose, "nobody else may read"), ("relative.key", "absolute")):
                with self.subTest(path=path):
                    self.assert_refused(cluster + f"XmlRpcGuardClusterNameKey {path}",
                                        "XmlRpcGuardClusterNameKey", path, why)
            self.assert_refused(f"<VirtualHost *:80>\nXmlRpcGuardClusterNameKey {good}\n"
                                "</VirtualHost>", "XmlRpcGuardClusterNameKey", "VirtualHost")
            code, output = configtest(cluster + f"XmlRpcGuardClusterNameKey {good}")
            self.assertEqual(code, 0, output)
            self.assertNotIn("k" * 32, output)

    def test_shipped_configuration_is_accepted(self):
        with open(os.path.join(SOURCE, "conf", "xmlrpcguard.conf")) as f:
            code, output = configtest(f.read())
        self.assertEqual(code, 0, output)
        self.assertIn("Syntax OK", output)


if __name__ == "__main__":
    unittest.main()
