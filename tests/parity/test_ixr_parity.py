"""Our request scanner against WordPress's own parser: the Debian wordpress package's
IXR_Message, run by php-cli with the same libxml2. For every body both must agree on
whether WordPress runs it, on the method, and on each call of a system.multicall, fed
whole and in small pieces. A disagreement is printed with the body; tools/parity-fuzz
runs the same comparison for longer and keeps what it finds in tests/parity/seeds/."""
import base64
import os
import random
import re
import unittest

import parity_lib

MUTANTS = int(os.environ.get("XRG_PARITY_MUTANTS", "4000"))


class IxrParity(unittest.TestCase):
    def assert_same_reading(self, bodies, pieces=(0, 1, 7)):
        found = parity_lib.disagreements(bodies, pieces)
        report = "\n".join("piece %d: %r\n  WordPress %s\n  scanner   %s" %
                           (piece, body[:300], wp, us) for body, wp, us, piece in found[:10])
        self.assertEqual(found, [], "%d disagreements, the first:\n%s" % (len(found), report))

    def assert_same_names(self, names, reaching, at_least):
        """Each name as wp.getUsersBlogs' user (in a <base64>, which carries any bytes)
        reaches the same account for WordPress and the scanner; more than `at_least` of
        them reach `reaching`, so the names are worth their test."""
        bodies = [parity_lib.call(b"wp.getUsersBlogs", b"<param><value><base64>%s</base64>"
                                  b"</value></param><param><value>pw</value></param>" %
                                  base64.b64encode(name)) for name in names]
        verdicts = parity_lib.wordpress_reads(bodies)
        self.assertGreater(sum(v["users"] == reaching.hex() for v in verdicts), at_least)
        self.assert_same_reading(bodies, pieces=(0,))

    def test_the_oracle_is_wordpress(self):
        plain, multi = parity_lib.wordpress_reads(
            [parity_lib.call(b"wp.getUsersBlogs"), parity_lib.multicall([parity_lib.auth_call()])])
        self.assertEqual(plain, {"runs": True, "method": b"wp.getUsersBlogs".hex(), "calls": None,
                                 "users": None})
        self.assertEqual(multi["calls"], [b"wp.getUsersBlogs".hex()])
        named = parity_lib.wordpress_reads([parity_lib.call(
            b"wp.getPosts", b"<param><value><int>1</int></value></param>"
            b"<param><value> ADMIN </value></param><param><value>pw</value></param>")])[0]
        self.assertEqual(named["users"], b"admin".hex())

    def test_fixtures_and_tricky_spellings_are_read_as_wordpress_reads_them(self):
        bodies = parity_lib.seed_bodies()
        self.assertGreater(len(bodies), len(parity_lib.TRICKY))
        self.assert_same_reading(bodies)

    def test_user_names_of_every_method_of_wordpress(self):
        # Every method wp_xmlrpc_server registers, with four distinct parameters: the
        # user name the scanner takes is the one WordPress would authenticate.
        with open("/usr/share/wordpress/wp-includes/class-wp-xmlrpc-server.php") as f:
            source = f.read()
        table = re.search(r"\$this->methods\s*=\s*array\((.*?)\);", source, re.S).group(1)
        methods = re.findall(r"'([\w.]+)'\s*=>", table)
        self.assertGreater(len(methods), 70)
        params = b"".join(b"<param><value><string>user%d</string></value></param>" % i
                          for i in range(4))
        bodies = [parity_lib.call(m.encode(), params) for m in methods]
        named = [v["users"] for v in parity_lib.wordpress_reads(bodies) if v["users"]]
        self.assertGreater(len(named), 60)
        self.assert_same_reading(bodies)

    def test_user_spellings_reach_the_account_the_scanner_names(self):
        verdicts = parity_lib.wordpress_reads(parity_lib.USER_SPELLINGS)
        self.assertGreaterEqual(sum(v["users"] == b"admin".hex() for v in verdicts), 12)
        self.assert_same_reading(parity_lib.USER_SPELLINGS)

    def test_every_accented_letter_reaches_the_account_wordpress_reaches(self):
        # remove_accents() in sanitize_user(): every character U+0080..U+FFFF in a UTF-8
        # name, and every byte 0x80..0xFF in a name that is not UTF-8 (read as
        # ISO-8859-1), before "dmin"; <base64> carries any bytes.
        def utf8(cp):
            return chr(cp).encode("utf-8", "surrogatepass")
        names = [b"x" + utf8(cp) + b"dmin" for cp in range(0x80, 0x10000)
                 if not 0xD800 <= cp <= 0xDFFF]
        names += [b"x" + bytes([b]) + b"dmin" for b in range(0x80, 0x100)]
        names += [bytes([b]) + b"dmin\xc3\x81" for b in range(0x80, 0x100)]
        self.assert_same_names(names, reaching=b"xadmin", at_least=40)

    def test_tags_in_a_name_are_stripped_as_wordpress_strips_them(self):
        # wp_strip_all_tags() and PHP's strip_tags() state machine on names made of the
        # bytes they read specially; <base64> carries any bytes (a NUL too).
        rng = random.Random(20261130)
        pieces = [b"<", b">", b"<", b">", b"\"", b"'", b"!", b"?", b"-", b"--", b"(", b")",
                  b"\\", b" ", b"\n", b"\x00", b"a", b"x", b"<!--", b"-->", b"<?", b"?>",
                  b"<?xml", b"<!DOCTYPE", b"doctype", b"<script>", b"</script>", b"<style",
                  b"</STYLE>", b"admin"]
        names = [b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) + b"admin"
                 for _ in range(3000)]
        self.assert_same_names(names, reaching=b"admin", at_least=100)

    def test_tricky_spellings_that_wordpress_runs_are_many(self):
        # The list is worth its name only if WordPress runs many of its spellings.
        verdicts = parity_lib.wordpress_reads(parity_lib.TRICKY)
        self.assertGreaterEqual(sum(v["runs"] for v in verdicts), 25)

    def test_mutations_are_read_as_wordpress_reads_them(self):
        bodies = parity_lib.mutants(MUTANTS, seed=20261130)
        runs = sum(v["runs"] for v in parity_lib.wordpress_reads(bodies))
        self.assertGreater(runs, len(bodies) // 10, "mutations should often still run")
        self.assert_same_reading(bodies, pieces=(0, 5))


if __name__ == "__main__":
    unittest.main()
