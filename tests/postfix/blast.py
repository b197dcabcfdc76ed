#!/usr/bin/env python3
"""Load generator and counting sink for the Postfix benchmark (scripts/bench-postfix).

usage:
  blast.py sink HOST PORT STATUS_FILE
      A fast SMTP sink standing in for the relay host: speaks ESMTP with PIPELINING, 8BITMIME
      and SIZE, accepts every message, keeps nothing but a count. STATUS_FILE gets
      "COUNT LAST_ARRIVAL" (wall-clock seconds) rewritten at most every 50 ms while messages
      arrive, and at once when the count stops changing.

  blast.py send HOST PORT DIR CONCURRENCY STATUS_FILE TIMEOUT
      Sends every message listed in DIR/index.tsv (file, sender, recipient, size, Message-ID)
      over CONCURRENCY persistent SMTP connections (smtplib), then waits until the sink's count
      has grown by the number sent (at most TIMEOUT seconds). Meanwhile samples the CPU time of
      every process (by command name) and of the whole machine. Prints one JSON object:
      sent, failed, seconds until smtpd accepted the last one, seconds until the sink had them
      all, both rates, CPU seconds per command and the machine's busy/iowait share.
"""

import asyncio
import json
import os
import smtplib
import sys
import threading
import time

# --------------------------------------------------------------------------------- sink


class Counter:
    def __init__(self, path):
        self.path = path
        self.count = 0
        self.last = 0.0
        self.written = -1
        self.write()

    def write(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d %.6f\n" % (self.count, self.last))
        os.replace(tmp, self.path)
        self.written = self.count


class SinkProtocol(asyncio.Protocol):
    """One SMTP session. Commands are answered as they arrive (pipelined ones together); in
    data mode the buffer is searched for CRLF . CRLF, counting the CRLF that ended DATA."""

    def __init__(self, counter):
        self.counter = counter
        self.buf = bytearray()
        self.in_data = False
        self.in_mail = False
        self.rcpts = 0
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data):
        self.buf += data
        out = []
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    # Keep only what may hold the start of the terminator.
                    if len(self.buf) > 4:
                        del self.buf[: len(self.buf) - 4]
                    break
                del self.buf[: end + 5]
                self.in_data = False
                self.in_mail, self.rcpts = False, 0
                self.counter.count += 1
                self.counter.last = time.time()
                out.append(b"250 2.0.0 ok")
                continue
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > 4096:
                    self.transport.close()
                break
            line = bytes(self.buf[: nl + 1])
            del self.buf[: nl + 1]
            verb = line[:4].upper()
            if verb == b"EHLO":
                out.append(b"250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600")
            elif verb == b"HELO":
                out.append(b"250 sink")
            elif verb == b"MAIL":
                self.in_mail, self.rcpts = True, 0
                out.append(b"250 2.1.0 ok")
            elif verb == b"RCPT":
                self.rcpts += 1
                out.append(b"250 2.1.5 ok")
            elif verb == b"DATA":
                if not self.in_mail or not self.rcpts:
                    out.append(b"503 5.5.1 need MAIL and RCPT")
                    continue
                out.append(b"354 go ahead")
                # The CRLF that ended DATA counts toward the terminator of an empty message.
                self.buf[:0] = b"\r\n"
                self.in_data = True
            elif verb == b"RSET":
                self.in_mail, self.rcpts = False, 0
                out.append(b"250 2.0.0 ok")
            elif verb == b"NOOP":
                out.append(b"250 2.0.0 ok")
            elif verb == b"QUIT":
                out.append(b"221 2.0.0 bye")
                self.transport.write(b"\r\n".join(out) + b"\r\n")
                self.transport.close()
                return
            else:
                out.append(b"502 5.5.2 not implemented")
        if out:
            self.transport.write(b"\r\n".join(out) + b"\r\n")


async def sink_main(host, port, status):
    counter = Counter(status)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkProtocol(counter), host, port, backlog=256)
    async with server:
        while True:
            await asyncio.sleep(0.05)
            if counter.count != counter.written:
                counter.write()


# --------------------------------------------------------------------------------- CPU


def clock_ticks():
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


class CpuSampler(threading.Thread):
    """Cumulative CPU time per process, sampled from /proc every `every` seconds and summed
    by command name. A process that exits between samples loses its last interval."""

    def __init__(self, every=0.25):
        super().__init__(daemon=True)
        self.every = every
        self.stop = threading.Event()
        self.first = {}  # pid → (comm, ticks) at the first sight
        self.last = {}  # pid → (comm, ticks) at the latest sight
        self.start_pids = None
        self.tck = clock_ticks()
        self.sys0 = self.system()
        self.sys1 = None

    @staticmethod
    def system():
        with open("/proc/stat") as f:
            parts = f.readline().split()[1:]
        vals = [int(x) for x in parts]
        total = sum(vals[:8])
        idle, iowait = vals[3], vals[4]
        return total, idle, iowait

    def sample(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    s = f.read()
            except OSError:
                continue
            lp, rp = s.find("("), s.rfind(")")
            comm = s[lp + 1 : rp]
            rest = s[rp + 2 :].split()
            ticks = int(rest[11]) + int(rest[12])  # utime + stime
            p = int(pid)
            if p not in self.first:
                # Processes already running at the start count from there; new ones from 0.
                self.first[p] = (comm, ticks if self.start_pids is None else 0)
            self.last[p] = (comm, ticks)
        if self.start_pids is None:
            self.start_pids = set(self.first)

    def run(self):
        self.sample()
        while not self.stop.wait(self.every):
            self.sample()

    def finish(self):
        self.stop.set()
        self.join()
        self.sample()
        self.sys1 = self.system()
        per = {}
        for p, (comm, ticks) in self.last.items():
            d = ticks - self.first[p][1]
            if d > 0:
                per[comm] = per.get(comm, 0) + d
        per = {k: round(v / self.tck, 2) for k, v in sorted(per.items(), key=lambda kv: -kv[1])}
        total = self.sys1[0] - self.sys0[0]
        busy = 1 - (self.sys1[1] - self.sys0[1]) / total if total else 0
        iowait = (self.sys1[2] - self.sys0[2]) / total if total else 0
        return per, round(busy, 3), round(iowait, 3)


# --------------------------------------------------------------------------------- send


def read_status(path):
    try:
        with open(path) as f:
            c, t = f.read().split()
            return int(c), float(t)
    except (OSError, ValueError):
        return 0, 0.0


def send_main(host, port, directory, concurrency, status, timeout):
    index = []
    with open(os.path.join(directory, "index.tsv")) as f:
        for line in f:
            name, sender, rcpt, size, _mid = line.rstrip("\n").split("\t")
            index.append((os.path.join(directory, name), sender, rcpt, int(size)))
    base, _ = read_status(status)
    lock = threading.Lock()
    nxt = [0]
    failed = []
    accepted_at = [0.0]
    deadline = time.time() + timeout

    def worker():
        conn = None
        while time.time() < deadline:
            with lock:
                i = nxt[0]
                if i >= len(index):
                    break
                nxt[0] += 1
            path, sender, rcpt, _ = index[i]
            with open(path, "rb") as f:
                data = f.read()
            for attempt in range(3):
                try:
                    if conn is None:
                        conn = smtplib.SMTP(host, port, timeout=60)
                        conn.ehlo("blast.example")
                    conn.sendmail(sender, [rcpt], data)
                    break
                except (smtplib.SMTPException, OSError) as e:
                    try:
                        if conn is not None:
                            conn.close()
                    except OSError:
                        pass
                    conn = None
                    if attempt == 2 or isinstance(e, smtplib.SMTPResponseException) and e.smtp_code >= 500:
                        with lock:
                            failed.append((os.path.basename(path), repr(e)[:200]))
                        break
                    time.sleep(0.2)
            with lock:
                accepted_at[0] = time.time()
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    cpu = CpuSampler()
    cpu.start()
    t0 = time.time()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.time()) + 1)
    sent = len(index) - len(failed)
    # Until the sink has every message Postfix accepted (or the deadline).
    want = base + sent
    count, last = read_status(status)
    while count < want and time.time() < deadline:
        time.sleep(0.05)
        count, last = read_status(status)
    per, busy, iowait = cpu.finish()
    delivered = count - base
    accept_s = accepted_at[0] - t0
    deliver_s = (last - t0) if delivered else float("nan")
    out = {
        "messages": len(index),
        "sent": sent,
        "failed": len(failed),
        "failures": failed[:5],
        "delivered": delivered,
        "complete": delivered >= sent,
        "bytes": sum(x[3] for x in index),
        "accept_seconds": round(accept_s, 3),
        "deliver_seconds": round(deliver_s, 3),
        "accept_rate": round(sent / accept_s, 1) if accept_s > 0 else 0,
        "deliver_rate": round(delivered / deliver_s, 1) if deliver_s > 0 else 0,
        "cpu_seconds": per,
        "machine_busy": busy,
        "machine_iowait": iowait,
    }
    print(json.dumps(out))
    return 0 if out["complete"] and not failed else 1


def set_name(name):
    """Name the process (as /proc shows it), so the CPU figures tell the sink from the sender."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


def main(argv):
    if len(argv) == 5 and argv[1] == "sink":
        set_name("blast-sink")
        try:
            asyncio.run(sink_main(argv[2], int(argv[3]), argv[4]))
        except KeyboardInterrupt:
            pass
        return 0
    if len(argv) == 8 and argv[1] == "send":
        set_name("blast-send")
        return send_main(argv[2], int(argv[3]), argv[4], int(argv[5]), argv[6], float(argv[7]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
