<?php
// WordPress's own reading of XML-RPC request bodies, for the differential tests.
// Loads the Debian `wordpress` package's IXR_Message and answers, for each body,
// what WordPress's xmlrpc.php would run: whether it runs at all, the method, and for
// system.multicall the method name of each call as IXR_Server::multiCall takes it.
//
// Input (stdin): bodies, each as a decimal byte count, "\n", then the bytes.
// Output (stdout): one JSON object per body, in order:
//   {"runs": bool, "method": HEX, "calls": [HEX, ...] | null, "users": HEX | [HEX, ...] | null}
// with every name as the hex of its bytes. "method" is "" unless the body runs;
// "calls" is null unless the method is system.multicall, and a call whose methodName
// is not a string (WordPress runs no method for it) is "" too; a call list WordPress
// cannot iterate is [].
// "users": the account name each authenticating call would try, as WordPress reaches
// it: args[position] of the method (positions read from class-wp-xmlrpc-server.php,
// args as IXR_Server::call unwraps them), a string or int, through sanitize_user()
// and lower case (MySQL's case-insensitive collation); null when none (a single call)
// or a list per multicall call (null entries). A name longer than 128 bytes after
// PHP's trim() is the guard's one overlong name ("\0overlong", user_names.hpp): it
// reaches an account only when padded with what sanitize_user() deletes.
$wordpress = getenv('XRG_WORDPRESS_DIR') ?: '/usr/share/wordpress';

// IXR consults two WordPress filters; outside WordPress they pass the value on.
function apply_filters($hook, $value) { return $value; }

require $wordpress . '/wp-includes/IXR/class-IXR-date.php';
require $wordpress . '/wp-includes/IXR/class-IXR-message.php';
// sanitize_user() and what it calls; get_locale() only picks remove_accents()' extras.
// mbstring_*: functions.php's switch of mbstring's encoding, a no-op for PHP 8's strlen.
function get_locale() { return 'en_US'; }
function mbstring_binary_safe_encoding() {}
function reset_mbstring_encoding() {}
require $wordpress . '/wp-includes/formatting.php';

// The user name's parameter of every method of wp_xmlrpc_server that calls login().
function user_positions($wordpress) {
    $source = file_get_contents($wordpress . '/wp-includes/class-wp-xmlrpc-server.php');
    preg_match('/\$this->methods\s*=\s*array\((.*?)\);/s', $source, $table);
    preg_match_all("/'([\\w.]+)'\s*=>\s*'this:(\\w+)'/", $table[1], $pairs, PREG_SET_ORDER);
    $positions = [];
    foreach ($pairs as [, $method, $function]) {
        $at = strpos($source, "public function $function(");
        $next = strpos($source, 'public function', $at + 10);
        $body = substr($source, $at, $next === false ? null : $next - $at);
        if (strpos($body, '$this->login(') !== false &&
            preg_match('/\$username\s*=\s*(?:\$this->escape\(\s*)?\$args\[(\d+)\]/', $body, $m)) {
            $positions[$method] = (int) $m[1];
        }
    }
    return $positions;
}
$positions = user_positions($wordpress);

error_reporting(0);

function method_hex($value) {
    return is_string($value) ? bin2hex($value) : '';
}

// IXR_Server::call() hands system.multicall params[0] when it is the only parameter.
function multicall_methods($params) {
    $calls = count($params) == 1 ? $params[0] : $params;
    if (!is_array($calls)) {
        return [];
    }
    $methods = [];
    foreach ($calls as $call) {
        $methods[] = is_array($call) ? method_hex($call['methodName'] ?? null) : '';
    }
    return $methods;
}

function user_hex($method, $params) {
    global $positions;
    if (!is_string($method) || !isset($positions[$method]) || !is_array($params)) {
        return null;
    }
    $args = count($params) == 1 ? $params[0] : $params;
    $at = $positions[$method];
    if (!is_array($args) || !array_key_exists($at, $args)) {
        return null;
    }
    $name = $args[$at];
    if (!is_string($name) && !is_int($name)) {
        return null;
    }
    if (strlen(trim((string) $name)) > 128) {
        return bin2hex("\0overlong");
    }
    $name = strtolower(sanitize_user((string) $name));
    return $name === '' ? null : bin2hex($name);
}

function multicall_users($params) {
    $calls = count($params) == 1 ? $params[0] : $params;
    if (!is_array($calls)) {
        return [];
    }
    $users = [];
    foreach ($calls as $call) {
        $users[] = is_array($call) ? user_hex($call['methodName'] ?? null, $call['params'] ?? null)
                                   : null;
    }
    return $users;
}

function judge($body) {
    // xmlrpc.php trims the raw body before IXR sees it.
    $message = new IXR_Message(trim($body));
    try {
        $runs = $message->parse() && $message->messageType == 'methodCall';
    } catch (Throwable $error) {
        $runs = false;  // e.g. a <fault> whose params[0] is a string: a 500, no method
    }
    if (!$runs) {
        return ['runs' => false, 'method' => '', 'calls' => null, 'users' => null];
    }
    $method = method_hex($message->methodName);
    $multicall = $message->methodName === 'system.multicall';
    $calls = $multicall ? multicall_methods($message->params) : null;
    $users = $multicall ? multicall_users($message->params)
                        : user_hex($message->methodName, $message->params);
    return ['runs' => true, 'method' => $method, 'calls' => $calls, 'users' => $users];
}

$in = fopen('php://stdin', 'rb');
while (($line = fgets($in)) !== false) {
    $length = (int) $line;
    $body = $length > 0 ? stream_get_contents($in, $length) : '';
    $verdict = judge($body);
    echo json_encode($verdict), "\n";
    flush();
}
