"""Runs one unittest suite file the way tools/test counts it: every case passed, failed
or skipped, and a skip is a failure of the suite unless XRG_ALLOW_SKIPS=1 (a
developer without root; tools/test says so in its summary).

  python -m xrg_unittest test_kernel_bans

Prints unittest's verbose output, then one line "xrg cases: N passed, N failed, N
skipped", and writes the same counts as JSON to $XRG_CASE_REPORT when that is set (the
ctest definitions set it; tools/test reads it). A class whose setUpClass skips counts
every one of its cases as skipped; one whose setUpClass fails counts one failure.
"""

import json
import os
import sys
import unittest


def skips_allowed():
    return os.environ.get("XRG_ALLOW_SKIPS") == "1"


def _cases_by_class(suite):
    counts = {}
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            for name, n in _cases_by_class(test).items():
                counts[name] = counts.get(name, 0) + n
        else:
            name = f"{type(test).__module__}.{type(test).__qualname__}"
            counts[name] = counts.get(name, 0) + 1
    return counts


def count(result, per_class):
    """(passed, failed, skipped) over the cases run; per_class: _cases_by_class() of
    the suite, taken before it ran (a suite drops its cases as it runs them)."""
    def case(test):  # a subtest's failure is its case's
        return getattr(test, "test_case", test)

    failed_cases, failed_outside = set(), 0
    for test, _ in result.failures + result.errors:
        if isinstance(test, unittest.TestCase):
            failed_cases.add(case(test).id())
        else:  # setUpClass / tearDownClass / setUpModule (Class) raised: one failure
            failed_outside += 1
    failed_cases.update(case(test).id() for test in result.unexpectedSuccesses)
    skipped_cases, skipped = set(), 0
    for test, _ in result.skipped:
        if isinstance(test, unittest.TestCase):
            skipped_cases.add(case(test).id())
        else:  # setUpClass (module.Class) raised SkipTest: none of its cases ran
            name = str(test).partition("(")[2].rstrip(")")
            skipped += per_class.get(name, 1)
    skipped_cases -= failed_cases
    skipped += len(skipped_cases)
    failed = len(failed_cases) + failed_outside
    passed = result.testsRun - len(failed_cases) - len(skipped_cases)
    return passed, failed, skipped


def main(argv):
    if len(argv) != 2:
        print("usage: python -m xrg_unittest MODULE", file=sys.stderr)
        return 2
    suite = unittest.defaultTestLoader.loadTestsFromName(argv[1])
    per_class = _cases_by_class(suite)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    passed, failed, skipped = count(result, per_class)
    print(f"xrg cases: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    report = os.environ.get("XRG_CASE_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump({"passed": passed, "failed": failed, "skipped": skipped}, f)
    if failed:
        return 1
    if skipped and not skips_allowed():
        print(f"xrg cases: {skipped} skipped, and a skip fails the suite: every case must run "
              "(a developer without root may allow skips with XRG_ALLOW_SKIPS=1)", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
