<?php
// A stand-in for WordPress's wp-login.php: a failed login answers 200 with the
// error box (id="login_error"), a good one (password "right") redirects with 302.
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    if (is_string($_POST['log'] ?? null) && $_POST['log'] !== '') {  // a password check
        file_put_contents(__DIR__ . '/flags/checks', "login\n", FILE_APPEND | LOCK_EX);
    }
    if (($_POST['pwd'] ?? '') === 'right') {
        setcookie('wordpress_logged_in_0123', 'x', 0, '/');
        header('Location: /wp-admin/', true, 302);
        exit;
    }
    echo "<!DOCTYPE html><html><body class=\"login\"><div id=\"login\">\n";
    echo "<div id=\"login_error\"><strong>Error:</strong> The password you entered is incorrect.</div>\n";
    echo "<form name=\"loginform\" id=\"loginform\" method=\"post\"></form></div></body></html>\n";
    exit;
}
echo "<!DOCTYPE html><html><body class=\"login\"><form name=\"loginform\"></form></body></html>\n";
