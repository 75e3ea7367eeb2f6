"""WordPress's own count of failed password checks, for the sandbox: a must-use plugin
that appends one line ("NAME ADDRESS") per `wp_login_failed` (the action wp_authenticate() fires after
every failed check, XML-RPC and wp-login.php alike; not for a multicall's later calls,
which WordPress refuses without checking) to a file the test reads."""

import os
import shutil
import tempfile

_PLUGIN = r"""<?php
// mod_xmlrpcguard's test sandbox: one line per failed password check WordPress made.
add_action('wp_login_failed', function ($username) {
    $line = str_replace(["\n", ' '], '_', (string) $username) . ' ' . ($_SERVER['REMOTE_ADDR'] ?? '-');
    file_put_contents(XRG_FAILED_LOG, $line . "\n", FILE_APPEND | LOCK_EX);
});
"""


class FailedChecks:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xrg-mu-")
        os.chmod(self.dir, 0o755)
        self.plugins = os.path.join(self.dir, "mu-plugins")
        os.makedirs(self.plugins)
        with open(os.path.join(self.plugins, "xrg-count-failed-logins.php"), "w") as f:
            f.write(_PLUGIN)
        self.log = os.path.join(self.dir, "failed")
        open(self.log, "w").close()
        os.chmod(self.log, 0o666)

    @property
    def extra_php(self):
        """For WordPressSite's config: WordPress loads the plugin from here."""
        return f"define('WPMU_PLUGIN_DIR', '{self.plugins}');\ndefine('XRG_FAILED_LOG', '{self.log}');"

    def count(self, addresses=None):
        """Failed checks so far; only those of requests from `addresses` if given."""
        with open(self.log) as f:
            lines = [line.split() for line in f]
        if addresses is None:
            return len(lines)
        wanted = set(addresses)
        return sum(1 for fields in lines if fields and fields[-1] in wanted)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
