#!/usr/bin/env python3
"""A minimal SMTP sink for the Postfix tests: accepts every message and stores it.

usage: sink.py HOST PORT DIR

Each message becomes DIR/NNNN.eml (the data, dot-unstuffed) and DIR/NNNN.json
({"mail_from": ..., "rcpt_to": [...]}). Speaks EHLO/HELO, MAIL, RCPT, DATA, RSET,
NOOP and QUIT; no extensions, so clients send one command at a time.
"""

import itertools
import json
import os
import socketserver
import sys
import threading

COUNTER = itertools.count(1)
LOCK = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, line):
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self):
        self.reply("220 sink ESMTP")
        mail_from, rcpts = None, []
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("latin-1").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink")
            elif verb == "MAIL":
                mail_from = cmd[5:].strip()
                mail_from = mail_from[5:] if mail_from.upper().startswith("FROM:") else mail_from
                mail_from = mail_from.split()[0].strip("<>") if mail_from.split() else ""
                rcpts = []
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                arg = cmd[5:].strip()
                arg = arg[3:] if arg.upper().startswith("TO:") else arg
                rcpts.append(arg.split()[0].strip("<>"))
                self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                if mail_from is None or not rcpts:
                    self.reply("503 5.5.1 need MAIL and RCPT")
                    continue
                self.reply("354 go ahead")
                data = bytearray()
                while True:
                    l = self.rfile.readline(1 << 20)
                    if not l:
                        return
                    if l in (b".\r\n", b".\n"):
                        break
                    if l.startswith(b"."):
                        l = l[1:]
                    data += l
                with LOCK:
                    n = next(COUNTER)
                base = os.path.join(OUT, "%04d" % n)
                with open(base + ".eml.tmp", "wb") as f:
                    f.write(bytes(data))
                with open(base + ".json", "w") as f:
                    json.dump({"mail_from": mail_from, "rcpt_to": rcpts}, f)
                os.rename(base + ".eml.tmp", base + ".eml")
                mail_from, rcpts = None, []
                self.reply("250 2.0.0 stored %04d" % n)
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.reply("250 2.0.0 ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 not implemented")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    host, port, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(OUT, exist_ok=True)
    with Server((host, port), Handler) as srv:
        srv.serve_forever()
