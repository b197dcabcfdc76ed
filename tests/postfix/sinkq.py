#!/usr/bin/env python3
"""Questions about what the sink (tests/postfix/sink.py) received, for scripts/test-postfix.

usage: sinkq.py DIR KIND ARG WANT [SECONDS]

Waits (default 20 s) until at least WANT stored messages match (WANT "rN": until the matches
have N envelope recipients between them, however Postfix split the deliveries), then prints one
JSON object per match and line: {"file", "mail_from", "rcpt_to", "headers": [[name, value]...],
"body"}. With WANT 0 it waits SECONDS (default 2) and prints whatever matches then. KIND:

  mid ID        messages whose own Message-ID header contains ID (not notices or bounces that
                merely refer to it)
  notice ID     doublecheck's notices (empty envelope sender, X-Doublecheck-Notice) about the
                hold ID; ARG "*" matches any hold
  bounce ID     Postfix's bounces (empty envelope sender, from MAILER-DAEMON) that mention ID
"""

import email
import email.policy
import json
import os
import sys
import time


def load(d, name):
    path = os.path.join(d, name)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        with open(path[:-4] + ".json") as f:
            env = json.load(f)
    except (OSError, ValueError):
        env = {"mail_from": None, "rcpt_to": []}
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = [[k, " ".join(str(v).split())] for k, v in msg.items()]
    if msg.is_multipart():
        body = "\n".join(
            (p.get_payload(decode=True) or b"").decode("utf-8", "replace")
            for p in msg.walk()
            if not p.is_multipart()
        )
        body += raw.decode("latin-1")
    else:
        body = (msg.get_payload(decode=True) or b"").decode("utf-8", "replace")
    return {
        "file": path,
        "mail_from": env.get("mail_from"),
        "rcpt_to": env.get("rcpt_to", []),
        "headers": headers,
        "body": body,
    }


def header(m, name):
    for k, v in m["headers"]:
        if k.lower() == name.lower():
            return v
    return None


def matches(kind, arg, m):
    notice = m["mail_from"] == "" and header(m, "X-Doublecheck-Notice") is not None
    bounce = m["mail_from"] == "" and "mailer-daemon" in (header(m, "From") or "").lower()
    if kind == "mid":
        return not notice and not bounce and arg in (header(m, "Message-ID") or "")
    if kind == "notice":
        return notice and (arg == "*" or header(m, "X-Doublecheck-Hold") == arg)
    if kind == "bounce":
        return bounce and arg in m["body"]
    raise SystemExit("unknown kind " + kind)


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    d, kind, arg, want = argv[1], argv[2], argv[3], argv[4]
    by_rcpt = want.startswith("r")
    want = int(want[1:] if by_rcpt else want)
    seconds = float(argv[5]) if len(argv) > 5 else (20.0 if want else 2.0)
    deadline = time.time() + seconds
    while True:
        found = []
        for name in sorted(os.listdir(d)):
            if name.endswith(".eml"):
                m = load(d, name)
                if matches(kind, arg, m):
                    found.append(m)
        have = sum(len(m["rcpt_to"]) for m in found) if by_rcpt else len(found)
        if (want and have >= want) or time.time() > deadline:
            for m in found:
                print(json.dumps(m))
            return 0
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
