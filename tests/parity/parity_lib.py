"""Runs bodies through WordPress's own parser (ixr_oracle.php under php-cli) and
through our request scanner (scan_bodies), and makes spellings of XML-RPC bodies:
the hand-written tricky ones and random mutations of any body."""
import json
import os
import random
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, "ixr_oracle.php")


def _frame(bodies):
    return b"".join(b"%d\n%s" % (len(body), body) for body in bodies)


def _run(command, bodies):
    done = subprocess.run(command, input=_frame(bodies), capture_output=True, timeout=600,
                          check=True)
    verdicts = [json.loads(line) for line in done.stdout.decode().splitlines()]
    if len(verdicts) != len(bodies):
        raise RuntimeError("%s answered %d of %d bodies: %s" %
                           (command[0], len(verdicts), len(bodies), done.stderr.decode()[-500:]))
    return verdicts


def wordpress_reads(bodies):
    return _run(["php", ORACLE], bodies)


def scanner_reads(bodies, piece=0):
    return _run([os.environ["XRG_SCAN_BODIES"], str(piece)], bodies)


# The scanner keeps names to this many bytes (RequestScan::kMaxMethodName), longer
# than any name WordPress knows: a longer name is compared by its first bytes.
MAX_NAME_HEX = 2 * 128


def as_kept(verdict):
    verdict = dict(verdict)
    verdict["method"] = verdict["method"][:MAX_NAME_HEX]
    if verdict["calls"] is not None:
        verdict["calls"] = [name[:MAX_NAME_HEX] for name in verdict["calls"]]
    return verdict


def disagreements(bodies, pieces=(0,)):
    """(body, WordPress's verdict, ours, piece size) for every body read differently."""
    found = []
    theirs = [as_kept(verdict) for verdict in wordpress_reads(bodies)]
    for piece in pieces:
        for body, wp, us in zip(bodies, theirs, scanner_reads(bodies, piece)):
            if wp != us:
                found.append((body, wp, us, piece))
    return found


def call(method, params=b""):
    return (b"<?xml version=\"1.0\"?>\n<methodCall><methodName>%s</methodName><params>%s"
            b"</params></methodCall>" % (method, params))


def member(name, value):
    return b"<member><name>%s</name><value>%s</value></member>" % (name, value)


def auth_call(method=b"<string>wp.getUsersBlogs</string>"):
    return (b"<value><struct>" + member(b"methodName", method) + member(
        b"params", b"<array><data><value><string>admin</string></value>"
        b"<value><string>guess</string></value></data></array>") + b"</struct></value>")


def multicall(calls, wrap=True):
    inner = b"".join(calls)
    if wrap:
        inner = b"<param><value><array><data>" + inner + b"</data></array></value></param>"
    return call(b"system.multicall", inner)


PINGBACK = call(b"pingback.ping",
                b"<param><value><string>http://198.18.0.1/</string></value></param>"
                b"<param><value><string>http://198.18.0.2/?p=1</string></value></param>")

# Spellings WordPress runs that a stricter reader calls malformed or reads otherwise,
# and near misses WordPress refuses. Each is judged by the oracle, not by this list.
TRICKY = [
    b"<fault><methodCall><methodName>pingback.ping</methodName></methodCall></fault>",
    b"<methodResponse><methodCall><methodName>wp.getUsersBlogs</methodName></methodCall>"
    b"</methodResponse>",
    b"<methodCall><methodResponse/><methodName>wp.getUsersBlogs</methodName></methodCall>",
    b"<methodCall><?xml version=\"1.0\"?><methodName>pingback.ping</methodName></methodCall>",
    b"<methodCall><?xml-stylesheet x?><methodName>pingback.ping</methodName></methodCall>",
    b"\x00\x0b \r\n" + PINGBACK + b"\x00\x0b\n",
    PINGBACK + b"\x0b<!-- -->",
    b"<!DOCTYPE methodCall>" + PINGBACK[22:],
    b"<!doctype methodCall SYSTEM \"http://198.18.0.9/x.dtd\">" + PINGBACK[22:],
    b"<!DOCTYPE methodCall [<!ENTITY e \"ping\">]>" + PINGBACK[22:],
    b"<?xml version=\"1.0\"?><!DOCTYPE a><?xml version=\"1.0\"?>" + PINGBACK[22:],
    b" " * 120 + b"<?xml version=\"1.0\"?>" + b" " * 120 + PINGBACK[22:],
    b"<?xml version=\"1.0\" encoding=\"UTF-16\"?>" + PINGBACK[22:],
    b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>" + PINGBACK[22:],
    b"<?xml version=\"1.0\"" + b" " * 100 + b"?>" + PINGBACK[22:],
    b"<methodCall\t><methodName>pingback.ping</methodName></methodCall>",
    b"<methodCallx><methodName>pingback.ping</methodName></methodCallx>",
    b"<methodCall><methodName>\n pingback.ping \t</methodName></methodCall>",
    b"<methodCall><methodName>pingback.ping" + b" " * 300 + b"</methodName></methodCall>",
    b"<methodCall><methodName>pingback.ping" + b" " * 300 + b"x</methodName></methodCall>",
    b"<methodCall><methodName>ping<!-- -->back.ping</methodName></methodCall>",
    b"<methodCall><methodName>ping<![CDATA[back]]>.ping</methodName></methodCall>",
    b"<methodCall><methodName>&#112;ingback&#x2e;ping</methodName></methodCall>",
    b"<methodCall><methodName>pingback.ping</methodName><methodName>x</methodName></methodCall>",
    b"<methodCall><methodName>x</methodName><params/><methodName>pingback.ping</methodName>"
    b"</methodCall>",
    b"<methodCall><methodName>ping<x/>back.ping</methodName></methodCall>",
    b"<methodCall><p:methodName xmlns:p=\"u\">pingback.ping</p:methodName></methodCall>",
    b"<methodCall xmlns=\"http://198.18.0.1/\"><methodName>pingback.ping</methodName></methodCall>",
    b"<methodCall><methodName a=\"1\" a=\"2\">pingback.ping</methodName></methodCall>",
    b"<methodCall><methodName>pingback.ping</methodName></methodCall><x/>",
    b"<methodCall><methodName>pingback.ping&unknown;</methodName></methodCall>",
    b"<methodCall><methodName>pingback.ping\xc3</methodName></methodCall>",
    b"<methodCall><methodName>pingback.ping</methodName>" + b"<a>" * 300 + b"</a>" * 300 +
    b"</methodCall>",
    multicall([auth_call(b"<string> wp.getUsersBlogs </string>")] * 3),
    multicall([auth_call(b" wp.getUsersBlogs ")] * 3),
    multicall([auth_call(b"<base64>d3AuZ2V0VXNlcnNCbG9ncw==</base64>")] * 3),
    multicall([auth_call(b"<base64>cGlu=Z2Jh Y2su!cGluZw</base64>")] * 3),
    multicall([auth_call(b"<string>pingback.ping</string>tail")] * 2),
    multicall([auth_call(b"\r\n\tpingback.ping"), auth_call(b"&#13;pingback.ping"),
               auth_call(b" &#32;<![CDATA[\t]]>\npingback.ping"), auth_call(b" " * 140 + b"x"),
               auth_call(b"wp.getUsersBlogs<string>pingback.ping</string>"),
               auth_call(b"<string>pingback.ping</string> \n "), auth_call(b"&#13;")]),
    multicall([b"<value><struct>" + member(b"methodName", b"pingback.ping") + b"</struct>tail"
               b"</value>"] * 2),
    call(b"system.multicall", b"<param><value><struct>" +
         member(b"a", b"<struct>" + member(b"methodName", b"pingback.ping") + b"</struct>") +
         member(b" a\n", b"<struct>" + member(b"methodName", b"wp.getUsersBlogs") + b"</struct>") +
         member(b"k" * 300 + b"a", b"<struct>" + member(b"methodName", b"x") + b"</struct>") +
         member(b"k" * 300 + b"b", b"<struct>" + member(b"methodName", b"y") + b"</struct>") +
         member(b"0", b"<struct>" + member(b"methodName", b"z") + b"</struct>") +
         member(b"00", b"<struct>" + member(b"methodName", b"pingback.ping") + b"</struct>") +
         b"</struct></value></param>"),
    multicall([auth_call(b"<i4>1</i4>"), auth_call(b"<boolean>1</boolean>")]),
    multicall([auth_call()] * 2, wrap=False),
    multicall([auth_call()], wrap=False),
    call(b"system.multicall", b"<param><value><struct>" +
         member(b"a", b"<struct>" + member(b"methodName", b"pingback.ping") + b"</struct>") +
         member(b"b", b"<struct>" + member(b"methodName", b"wp.getUsersBlogs") + b"</struct>") +
         member(b"a", b"<struct>" + member(b"methodName", b"wp.getPosts") + b"</struct>") +
         b"</struct></value></param>"),
    call(b"system.multicall", b"<param><value><struct><name>a</name><value><struct>"
         b"<name>methodName</name><value>pingback.ping</value></struct></value>"
         b"<value><struct><value>x</value></struct></value></struct></value></param>"),
    call(b"system.multicall", b"<value><array><data><value><struct><member><name>methodName"
         b"</name><value><struct><member><value>x</value></member></struct></value></member>"
         b"</struct></value></data></array></value>"),
    call(b"system.multicall", b"<name>methodName</name><value><array><data><value><struct>"
         b"<value>pingback.ping</value></struct></value></data></array></value>"),
    call(b"system.multicall", b"<param><value><array><data>" + b"<value><struct>" +
         member(b"methodName", b"pingback.ping") * 2 + b"</struct></value>" * 2 +
         b"</data></array></value></param>"),
    b"<methodCall><methodName>system.multicall</methodName>" + b"<" * 60001 + b"</methodCall>",
    call(b"system.multicall", b"<param><value><array><data>" +
         b"".join([auth_call()] * 12000) + b"</data></array></value></param>"),
]


def _params(*values):
    return b"".join(b"<param><value>%s</value></param>" % v for v in values)


# User names as an attacker may spell them: WordPress must reach the same account as
# the scanner's reading (folded) says, or no account when the scanner says none.
USER_SPELLINGS = [
    call(b"wp.getUsersBlogs", _params(b"<string>Admin</string>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string> \n ADMIN\t</string>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"  admin  ", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string>&#65;dmin</string>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string>ad&amp;lt;b&amp;gt;min</string>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string>ad%41min</string>", b"pw")),
    # wp_strip_all_tags(): script and style elements go with their content
    call(b"wp.getUsersBlogs", _params(b"<string>&lt;script&gt;x&lt;/script&gt;admin</string>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string>ad&lt;STYLE m=x&gt;x\ny&lt;/sTyle&gt;min</string>",
                                      b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string>&lt;script&gt;a&lt;/scriptx&gt;b&lt;/script&gt;"
                                      b"admin</string>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string>&lt;script&gt;x&lt;/script &gt;admin</string>",
                                      b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string>\xc3\x84dmin</string>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string>john    smith</string>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<string>Admin@Example.ORG</string>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<base64>YWRtaW4=</base64>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<int>007</int>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<int>-0</int>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<int>99999999999999999999</int>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<boolean>1</boolean>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<double>1.5</double>", b"pw")),
    call(b"wp.getUsersBlogs", _params(b"<array><data><value>admin</value><value>pw</value>"
                                      b"</data></array>")),
    call(b"wp.getUsersBlogs", _params(b"<struct><member><name>0</name><value>admin</value>"
                                      b"</member><member><name>1</name><value>pw</value>"
                                      b"</member></struct>")),
    call(b"wp.getUsersBlogs", _params(b"admin")),
    call(b"wp.getUsersBlogs", _params(b"<array><data><value>admin</value></data></array>",
                                      b"pw")),
    call(b"wp.getPosts", _params(b"<int>1</int>", b"admin", b"pw")),
    call(b"wp.getPage", _params(b"<int>1</int>", b"<int>2</int>", b"admin", b"pw")),
    call(b"blogger.getPost", _params(b"key", b"<int>1</int>", b"admin", b"pw")),
    b"<methodCall><params>" + _params(b"admin", b"pw") +
    b"</params><methodName>wp.getUsersBlogs</methodName></methodCall>",
    b"<methodCall><methodName>wp.getUsersBlogs</methodName><params>" + _params(b"admin", b"pw") +
    b"</params><methodName>wp.getPosts</methodName></methodCall>",
    multicall([b"<value><struct>" + member(b"methodName", b"<string>wp.getUsersBlogs</string>") +
               member(b"params", b"<array><data><value>me</value><value>right</value></data>"
                                 b"</array>") + b"</struct></value>",
               b"<value><struct>" + member(b"params", b"<array><data><value><int>1</int></value>"
                                                     b"<value>Admin</value><value>x</value>"
                                                     b"</data></array>") +
               member(b"methodName", b"wp.getPosts") + b"</struct></value>",
               b"<value><struct>" + member(b"methodName", b"wp.getUsersBlogs") +
               member(b"params", b"<array><data><value><array><data><value>inner</value>"
                                 b"<value>x</value></data></array></value></data></array>") +
               b"</struct></value>",
               b"<value><struct>" + member(b"methodName", b"wp.getUsersBlogs") +
               member(b"params", b"<string>admin</string>") + b"</struct></value>"]),
]


def seed_bodies():
    """The fixtures' requests, the tricky spellings and every recorded disagreement."""
    bodies = list(TRICKY) + list(USER_SPELLINGS) + [call(b"wp.getUsersBlogs"), PINGBACK, multicall([auth_call()] * 5)]
    fixtures = os.environ.get("XRG_FIXTURE_DIR", os.path.join(HERE, "..", "fixtures"))
    for directory, suffix in ((fixtures, ".request.xml"), (os.path.join(HERE, "seeds"), "")):
        if os.path.isdir(directory):
            for name in sorted(os.listdir(directory)):
                if name.endswith(suffix):
                    with open(os.path.join(directory, name), "rb") as f:
                        bodies.append(f.read())
    return bodies


_TAGS = [b"methodCall", b"methodResponse", b"fault", b"methodName", b"params", b"param",
         b"value", b"string", b"base64", b"int", b"i4", b"struct", b"member", b"name",
         b"array", b"data", b"boolean", b"double"]
_INSERTS = [b" ", b"\n", b"\t", b"\r", b"\x00", b"\x0b", b"<!-- c -->", b"<?pi x?>",
            b"<?xml version=\"1.0\"?>", b"<!DOCTYPE methodCall>", b"<![CDATA[x]]>",
            b"<![CDATA[", b"]]>", b"&amp;", b"&#x70;", b"&lt;", b"&e;", b"<", b">", b"=",
            b"</member>", b"<name>methodName</name>", b"<name>x</name>", b"<value>",
            b"</value>", b"<value>pingback.ping</value>", b"<string>pingback.ping</string>",
            b"<struct>", b"</struct>", b"<data>", b"</data>", b"<fault>", b"<methodCall>",
            b"<methodName>pingback.ping</methodName>", b"<methodName>system.multicall</methodName>",
            b"\xc3", b"\xef\xbb\xbf", b"<x/>", b"<p:value xmlns:p=\"u\">",
            # what IXR reads specially in a value's text: leading white space kept by an
            # untyped <value>, text after a typed value, struct keys
            b"&#13;", b"&#9;", b"&#32;", b" \r\n\t", b"<![CDATA[ ]]>", b"tail", b"<member>",
            b"<value>\n pingback.ping</value>", b"<name> methodName </name>", b"<name>0</name>",
            b"<name>params</name>", b"<string>admin</string>", b"<value> admin</value>",
            # what sanitize_user() reads specially in a user name
            b"&lt;", b"&gt;", b"&lt;script&gt;", b"&lt;!--", b"&lt;?", b"%41", b"&amp;x;",
            b"\xc3\x81", b"\xc4\x80", b"<base64>wWRtaW4=</base64>"]


def mutate(body, rng):
    """One to three random edits of a body, biased to what IXR reads specially."""
    body = bytearray(body)
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(body))
        roll = rng.random()
        if roll < 0.35:
            body[at:at] = rng.choice(_INSERTS)
        elif roll < 0.5 and body:
            end = min(len(body), at + rng.randint(1, 16))
            del body[at:end]
        elif roll < 0.6 and body:
            at = min(at, len(body) - 1)
            body[at] = rng.randrange(256)
        elif roll < 0.75:
            old, new = rng.choice(_TAGS), rng.choice(_TAGS)
            body = bytearray(bytes(body).replace(old, new, rng.randint(1, 2)))
        elif roll < 0.85 and body:
            start = rng.randint(0, len(body) - 1)
            piece = body[start:start + rng.randint(1, 64)]
            body[at:at] = piece
        elif roll < 0.92:
            body[0:0] = rng.choice([b" " * rng.randint(1, 150), b"\x00", b"<?xml?>",
                                    b"<!DOCTYPE x>", b"<?xml version=\"1.0\"?>\n" * 2])
        else:
            body += rng.choice([b"\x00", b" \x0b", b"<x/>", b"<!-- -->", b"\n"])
    return bytes(body)


def mutants(count, seed):
    rng = random.Random(seed)
    seeds = seed_bodies()
    small = [body for body in seeds if len(body) < 20000]
    return [mutate(rng.choice(small), rng) for _ in range(count)]
