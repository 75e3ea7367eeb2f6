"""Real WordPress (the Debian `wordpress` package) in a TestNet's server namespace.

Brings up, all started by pid and ended by pid: its own MariaDB (a data directory in
the work directory, a unix socket, no network), its own PHP-FPM master, and a site
installed with a known admin password and a published post open to pingbacks.
The Debian package reads its settings from /etc/wordpress/config-NAME.php, chosen
by `SetEnv WORDPRESS_CONFIG NAME` in the vhost; that one file is ours and removed
at close().
"""

import json
import os
import secrets
import shutil
import subprocess

from netns import wait_until

WORDPRESS_ROOT = "/usr/share/wordpress"
PHP_FPM = shutil.which("php-fpm8.2") or "/usr/sbin/php-fpm8.2"

_INSTALL_PHP = r"""<?php
// Runs once from the command line: installs the site and one post open to pingbacks.
$_SERVER['HTTP_HOST'] = getenv('XRG_WP_HOST');
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['WORDPRESS_CONFIG'] = getenv('XRG_WP_CONFIG');
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
$home = 'http://' . getenv('XRG_WP_HOST');
$result = wp_install('mod_xmlrpcguard demo', 'admin', 'admin@example.org', true, '',
                     wp_slash(getenv('XRG_WP_PASSWORD')));
update_option('siteurl', $home);
update_option('home', $home);
update_option('default_ping_status', 'open');
update_option('default_pingback_flag', 1);
$post = wp_insert_post(array(
    'post_title' => 'A post worth linking to',
    'post_content' => 'Pingbacks welcome.',
    'post_status' => 'publish',
    'ping_status' => 'open',
    'post_author' => $result['user_id'],
));
echo json_encode(array('post_id' => $post, 'post_url' => $home . '/?p=' . $post)), "\n";
"""


class WordPressSite:
    """A WordPress site served by PHP-FPM, for an apache2 vhost to front.

    host: the Host name clients use (WordPress builds its URLs from it).
    """

    admin_user = "admin"

    def __init__(self, net, workdir, host="blog.test", name=None, extra_php=""):
        """extra_php: more PHP for the site's config file (define()s)."""
        self.net, self.host = net, host
        self.extra_php = extra_php
        self.workdir = os.path.join(workdir, "wordpress")
        self.config_name = name or f"xrg{net.tag}"
        self.config_file = f"/etc/wordpress/config-{self.config_name}.php"
        self.admin_password = "correct-" + secrets.token_hex(6)
        self.php_fpm_socket = os.path.join(self.workdir, "php-fpm.sock")
        self.db_socket = os.path.join(self.workdir, "mysqld.sock")
        self.post_id = None
        self.post_url = None
        self._processes = []

    # -- the pieces --
    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        try:
            self._start_mariadb()
            self._write_config()
            self._start_php_fpm()
            self._install()
        except BaseException:
            self.close()
            raise
        return self

    def _start_mariadb(self):
        datadir = os.path.join(self.workdir, "db")
        subprocess.run(["mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={datadir}",
                        "--skip-test-db", "--auth-root-authentication-method=normal"],
                       check=True, capture_output=True)
        argv = ["mariadbd", "--no-defaults", "--user=root", f"--datadir={datadir}",
                f"--socket={self.db_socket}", "--skip-networking", "--skip-grant-tables",
                f"--pid-file={self.workdir}/mysqld.pid", f"--log-error={self.workdir}/mysqld.log",
                "--innodb-buffer-pool-size=32M", "--skip-log-bin"]
        process = self.net.start(self.net.server, argv)
        self._processes.append(process)

        def ready():
            if process.poll() is not None:
                raise RuntimeError("mariadbd ended: " + self._read("mysqld.log"))
            probe = subprocess.run(["mariadb", f"--socket={self.db_socket}", "-e",
                                    "CREATE DATABASE IF NOT EXISTS wordpress"],
                                   capture_output=True)
            return probe.returncode == 0
        wait_until(ready, timeout=30, interval=0.1, what="mariadb")

    def _write_config(self):
        os.makedirs("/etc/wordpress", exist_ok=True)
        with open(self.config_file, "w") as f:
            f.write(f"""<?php
// Written by mod_xmlrpcguard's test harness ({self.net.tag}); removed when it ends.
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:{self.db_socket}');
define('WP_HOME', 'http://{self.host}');
define('WP_SITEURL', 'http://{self.host}');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', false);
{self.extra_php}
$table_prefix = 'wp_';
""")
        os.chmod(self.config_file, 0o644)

    def _start_php_fpm(self):
        conf = os.path.join(self.workdir, "php-fpm.conf")
        with open(conf, "w") as f:
            f.write(f"""[global]
pid = {self.workdir}/php-fpm.pid
error_log = {self.workdir}/php-fpm.log
daemonize = no
[www]
user = root
group = root
listen = {self.php_fpm_socket}
listen.mode = 0666
pm = static
pm.max_children = 8
env[WORDPRESS_CONFIG] = {self.config_name}
php_admin_value[output_buffering] = 0
php_admin_flag[log_errors] = on
""")
        process = self.net.start(self.net.server, [PHP_FPM, "-R", "-F", "-y", conf])
        self._processes.append(process)
        wait_until(lambda: os.path.exists(self.php_fpm_socket) or process.poll() is not None,
                   timeout=15, what="php-fpm socket")
        if process.poll() is not None:
            raise RuntimeError("php-fpm did not start: " + self._read("php-fpm.log"))

    def _install(self):
        script = os.path.join(self.workdir, "install.php")
        with open(script, "w") as f:
            f.write(_INSTALL_PHP)
        env = dict(os.environ, XRG_WP_HOST=self.host, XRG_WP_CONFIG=self.config_name,
                   XRG_WP_PASSWORD=self.admin_password)
        done = self.net.run(self.net.server, ["php", script], env=env, timeout=120)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        self.post_id, self.post_url = result["post_id"], result["post_url"]

    # -- for the apache2 in front --
    def vhost(self, guard="", listen="*:80"):
        """A VirtualHost serving this site through PHP-FPM, with `guard` lines in it."""
        return f"""<VirtualHost {listen}>
  ServerName {self.host}
  DocumentRoot {WORDPRESS_ROOT}
  SetEnv WORDPRESS_CONFIG {self.config_name}
  <Directory {WORDPRESS_ROOT}>
    Require all granted
    Options FollowSymLinks
  </Directory>
  <FilesMatch "\\.php$">
    SetHandler "proxy:unix:{self.php_fpm_socket}|fcgi://localhost/"
  </FilesMatch>
  DirectoryIndex index.php
{guard}
</VirtualHost>
"""

    def close(self):
        for process in reversed(self._processes):
            self.net.stop(process)
        self._processes.clear()
        if os.path.exists(self.config_file):
            os.remove(self.config_file)

    def _read(self, name):
        try:
            with open(os.path.join(self.workdir, name), errors="replace") as f:
                return f.read()[-4000:]
        except FileNotFoundError:
            return ""
