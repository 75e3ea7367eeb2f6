"""Our request scanner against WordPress's own parser: the Debian wordpress package's
IXR_Message, run by php-cli with the same libxml2. For every body both must agree on
whether WordPress runs it, on the method, and on each call of a system.multicall, fed
whole and in small pieces. A disagreement is printed with the body; tools/parity-fuzz
runs the same comparison for longer and keeps what it finds in tests/parity/seeds/."""
import os
import unittest

import parity_lib

MUTANTS = int(os.environ.get("XRG_PARITY_MUTANTS", "4000"))


class IxrParity(unittest.TestCase):
    def assert_same_reading(self, bodies, pieces=(0, 1, 7)):
        found = parity_lib.disagreements(bodies, pieces)
        report = "\n".join("piece %d: %r\n  WordPress %s\n  scanner   %s" %
                           (piece, body[:300], wp, us) for body, wp, us, piece in found[:10])
        self.assertEqual(found, [], "%d disagreements, the first:\n%s" % (len(found), report))

    def test_the_oracle_is_wordpress(self):
        plain, multi = parity_lib.wordpress_reads(
            [parity_lib.call(b"wp.getUsersBlogs"), parity_lib.multicall([parity_lib.auth_call()])])
        self.assertEqual(plain, {"runs": True, "method": b"wp.getUsersBlogs".hex(), "calls": None})
        self.assertEqual(multi["calls"], [b"wp.getUsersBlogs".hex()])

    def test_fixtures_and_tricky_spellings_are_read_as_wordpress_reads_them(self):
        bodies = parity_lib.seed_bodies()
        self.assertGreater(len(bodies), len(parity_lib.TRICKY))
        self.assert_same_reading(bodies)

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
