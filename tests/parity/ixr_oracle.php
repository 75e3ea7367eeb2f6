<?php
// WordPress's own reading of XML-RPC request bodies, for the differential tests.
// Loads the Debian `wordpress` package's IXR_Message and answers, for each body,
// what WordPress's xmlrpc.php would run: whether it runs at all, the method, and for
// system.multicall the method name of each call as IXR_Server::multiCall takes it.
//
// Input (stdin): bodies, each as a decimal byte count, "\n", then the bytes.
// Output (stdout): one JSON object per body, in order:
//   {"runs": bool, "method": HEX, "calls": [HEX, ...] | null}
// with every name as the hex of its bytes. "method" is "" unless the body runs;
// "calls" is null unless the method is system.multicall, and a call whose methodName
// is not a string (WordPress runs no method for it) is "" too; a call list WordPress
// cannot iterate is [].
$wordpress = getenv('XRG_WORDPRESS_DIR') ?: '/usr/share/wordpress';

// IXR consults two WordPress filters; outside WordPress they pass the value on.
function apply_filters($hook, $value) { return $value; }

require $wordpress . '/wp-includes/IXR/class-IXR-date.php';
require $wordpress . '/wp-includes/IXR/class-IXR-message.php';

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

function judge($body) {
    // xmlrpc.php trims the raw body before IXR sees it.
    $message = new IXR_Message(trim($body));
    try {
        $runs = $message->parse() && $message->messageType == 'methodCall';
    } catch (Throwable $error) {
        $runs = false;  // e.g. a <fault> whose params[0] is a string: a 500, no method
    }
    if (!$runs) {
        return ['runs' => false, 'method' => '', 'calls' => null];
    }
    $method = method_hex($message->methodName);
    $multicall = $message->methodName === 'system.multicall';
    $calls = $multicall ? multicall_methods($message->params) : null;
    return ['runs' => true, 'method' => $method, 'calls' => $calls];
}

$in = fopen('php://stdin', 'rb');
while (($line = fgets($in)) !== false) {
    $length = (int) $line;
    $body = $length > 0 ? stream_get_contents($in, $length) : '';
    $verdict = judge($body);
    echo json_encode($verdict), "\n";
    flush();
}
