<?php
// A stand-in for WordPress's xmlrpc.php that answers the way WordPress does: HTTP 200
// always, faultCode 403 for a bad password, 0 for a failed pingback, 48 for a
// duplicate one. The password "right" succeeds. Test knobs in the query string:
//   gate=NAME      send the first part of the answer, then wait for flags/NAME
//   wait=NAME      wait for flags/NAME before answering at all
//   gzip=1         answer gzip-encoded (Content-Encoding set by the backend)
//   pieces=N       send the answer in N flushed pieces

function wait_for_flag($name) {
    $flag = __DIR__ . '/flags/' . basename($name);
    touch($flag . '.started');  // tells the test this request reached the backend
    for ($i = 0; $i < 1000 && !file_exists($flag); $i++) {  // at most 10 s
        usleep(10000);
    }
}

function fault($code, $text) {
    return "<value><struct><member><name>faultCode</name><value><int>$code</int></value></member>"
         . "<member><name>faultString</name><value><string>$text</string></value></member></struct></value>";
}

function answer_call($method, $params) {
    switch ($method) {
        case 'pingback.ping':
            $source = isset($params[0]) ? (string)$params[0]->value->string : '';
            if (strpos($source, 'duplicate') !== false) {
                return [true, fault(48, 'The pingback has already been registered.')];
            }
            return [true, fault(0, '')];
        case 'demo.sayHello':
            return [false, '<value><string>Hello!</string></value>'];
        default:  // every other method authenticates: params are (blog, user, password) or (user, password)
            // Each password check that reached PHP, for the user-name suites.
            file_put_contents(__DIR__ . '/flags/checks', "xmlrpc\n", FILE_APPEND | LOCK_EX);
            $password = '';
            foreach ($params as $param) {
                $password = (string)$param->value->string;
            }
            if ($password === 'right') {
                return [false, '<value><array><data><value><struct><member><name>blogid</name>'
                             . '<value><string>1</string></value></member></struct></value></data></array></value>'];
            }
            return [true, fault(403, 'Incorrect username or password.')];
    }
}

function params_of($node) {
    $params = [];
    if ($node) {
        foreach ($node->param as $param) {
            $params[] = $param;
        }
    }
    return $params;
}

if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    echo "XML-RPC server accepts POST requests only.";
    exit;
}
$body = file_get_contents('php://input');
$call = @simplexml_load_string($body);
if ($call === false) {
    $response = '<methodResponse><fault>' . fault(-32700, 'parse error. not well formed') . '</fault></methodResponse>';
} else {
    $method = (string)$call->methodName;
    if ($method === 'system.multicall') {
        $items = '';
        foreach ($call->params->param->value->array->data->value as $entry) {
            $inner = null;
            $inner_params = [];
            foreach ($entry->struct->member as $member) {
                if ((string)$member->name === 'methodName') {
                    $inner = (string)$member->value->string;
                } elseif ((string)$member->name === 'params') {
                    foreach ($member->value->array->data->value as $v) {
                        $inner_params[] = (object)['value' => $v];
                    }
                }
            }
            [$failed, $value] = answer_call($inner, $inner_params);
            $items .= $failed ? $value : "<value><array><data>$value</data></array></value>";
        }
        $response = "<methodResponse><params><param><value><array><data>$items</data></array></value></param></params></methodResponse>";
    } else {
        [$failed, $value] = answer_call($method, params_of($call->params));
        $response = $failed ? "<methodResponse><fault>$value</fault></methodResponse>"
                            : "<methodResponse><params><param>$value</param></params></methodResponse>";
    }
}
$response = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" . $response . "\n";

if (isset($_GET['wait'])) {
    wait_for_flag($_GET['wait']);
}
header('Content-Type: text/xml; charset=UTF-8');
if (isset($_GET['gzip'])) {
    header('Content-Encoding: gzip');
    echo gzencode($response);
    exit;
}
while (ob_get_level() > 0) {  // mod_php's php.ini buffers output; pieces must leave as flushed
    ob_end_flush();
}
$pieces = isset($_GET['gate']) ? 2 : (isset($_GET['pieces']) ? max(1, (int)$_GET['pieces']) : 1);
$size = (int)ceil(strlen($response) / $pieces);
for ($i = 0; $i < $pieces; $i++) {
    if ($i === 1 && isset($_GET['gate'])) {
        wait_for_flag($_GET['gate']);
    }
    echo substr($response, $i * $size, $size);
    flush();
}
