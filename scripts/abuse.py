#!/usr/bin/env python3
"""HTTP abuse against a running `egov serve` of its own (docs/security.md, the attack suite).

Starts `egov serve` in development mode over a private embedded cluster, files one citizen's
request, then, while probing `/healthz` and that citizen's status on fresh connections:

  1. a flood of junk bearer tokens, each distinct and as long as a token may be (4 KiB);
  2. header floods: requests with hundreds of large headers;
  3. slowloris: many connections sending their headers a line at a time (reconnecting when the
     server gives up on them), and some sending an authenticated body a byte at a time.

Prints the figures: the server's RSS (VmRSS of the egov process) before and after each, the
probes' slowest answers, and what the attackers got. Exits 1 when a probe went unanswered (within
--probe-timeout), a 5xx was seen, or the server died.

    python3 scripts/abuse.py [--egov target/release/egov] [--flood 100000] [--connections 10000]
                             [--seconds 20]

Only 127.0.0.1 is ever contacted.
"""

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import time


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def request(port, raw, timeout):
    """Sends `raw` on a fresh connection; the status code and the seconds it took."""
    started = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(raw)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        return int(head.split()[1]), time.monotonic() - started
    finally:
        writer.close()


class Probes:
    """Asks `/healthz` and the citizen's status every `every` seconds, each on a new connection."""

    def __init__(self, port, token, number, timeout):
        self.port, self.timeout = port, timeout
        self.raws = [
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            (f"GET /api/v1/requests/{number} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n").encode(),
        ]
        self.latencies, self.failures = [], []

    async def run(self, stop, every=0.25):
        """Until `stop` (a multiprocessing event) is set."""
        while not stop.is_set():
            for raw in self.raws:
                try:
                    status, took = await request(self.port, raw, self.timeout)
                    self.latencies.append(took)
                    if status != 200:
                        self.failures.append(f"status {status}")
                except Exception as error:  # noqa: BLE001 - every failure is a finding
                    self.failures.append(f"{type(error).__name__}: {error}")
            await asyncio.sleep(every)

    def summary(self):
        if not self.latencies:
            return "no probe answered"
        ordered = sorted(self.latencies)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (f"{len(ordered)} probes, median {statistics.median(ordered) * 1000:.1f} ms, "
                f"p99 {p99 * 1000:.1f} ms, slowest {ordered[-1] * 1000:.1f} ms, "
                f"{len(self.failures)} failed")


async def junk_flood(port, total, connections):
    """`total` requests with distinct 4 KiB junk tokens over keep-alive connections."""
    statuses = {}
    per = total // connections

    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(per):
            token = "".join(random.choices(string.ascii_letters + string.digits, k=4000))
            writer.write((f"GET /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Authorization: Bearer {token}\r\n\r\n").encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split()[1])
            statuses[status] = statuses.get(status, 0) + 1
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            if length:
                await reader.readexactly(int(length.group(1)))
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return statuses


async def header_flood(port, count):
    """Requests with 400 headers of 1 KiB each; what the server answered."""
    statuses = {}
    headers = "".join(f"X-Flood-{i}: {'a' * 1024}\r\n" for i in range(400))
    raw = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode()
    for _ in range(count):
        try:
            status, _ = await request(port, raw, 10)
        except (ConnectionError, asyncio.IncompleteReadError):
            status = "closed"
        statuses[status] = statuses.get(status, 0) + 1
    return statuses


async def slowloris(port, connections, seconds, token):
    """`connections` attackers for `seconds`: nine in ten send their headers a line every two
    seconds (and reconnect when cut off), one in ten an authenticated body a byte a second."""
    deadline = time.monotonic() + seconds
    stats = {"opened": 0, "cut_off": 0, "refused": 0, "answered": {}, "bodies_answered": {}}

    async def attacker(slow_body):
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                stats["refused"] += 1
                await asyncio.sleep(1)
                continue
            stats["opened"] += 1
            try:
                if slow_body:
                    writer.write((f"POST /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                                  f"Content-Length: 100000\r\n\r\n").encode())
                else:
                    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                while time.monotonic() < deadline:
                    await writer.drain()
                    await asyncio.sleep(1 if slow_body else 2)
                    writer.write(b" " if slow_body else b"X-Slow: 1\r\n")
                    if reader.at_eof() or writer.is_closing():
                        break
                    try:
                        head = await asyncio.wait_for(reader.read(64), 0.01)
                    except asyncio.TimeoutError:
                        continue
                    if head.startswith(b"HTTP/1.1 "):
                        status = int(head.split()[1])
                        which = "bodies_answered" if slow_body else "answered"
                        stats[which][status] = stats[which].get(status, 0) + 1
                    stats["cut_off"] += 1
                    break
            except (ConnectionError, OSError):
                stats["cut_off"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(attacker(i % 10 == 0) for i in range(connections)))
    return stats


def start_egov(egov, data_dir, log):
    env = dict(os.environ, EGOV_MODE="development", EGOV_DATA_DIR=data_dir,
               EGOV_HTTP_ADDR="127.0.0.1:0", EGOV_WORKFLOW="off", RUST_LOG="warn",
               EGOV_WRITES_PER_SECOND="1000", EGOV_WRITE_BURST="1000",
               EGOV_BODY_DEADLINE="5s")
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen([egov, "serve"], env=env, stdout=subprocess.PIPE,
                               stderr=log, text=True, start_new_session=True)
    line = process.stdout.readline()
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not match:
        process.kill()
        sys.exit(f"egov serve did not start: {line!r}")
    return process, int(match.group(1)), env


def token_for(egov, env, iin):
    out = subprocess.run([egov, "token", "--role", "citizen", "--sub", iin, "--ttl", "2h"],
                         env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


async def file_request(port, token, iin):
    body = f'{{"service":"pension-fund-statement","iin":"{iin}","form":{{}}}}'
    raw = (f"POST /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw.encode())
    answer = await reader.read()
    writer.close()
    match = re.search(rb'"number":"(\d+)"', answer)
    if not match:
        sys.exit(f"filing failed: {answer[:300]!r}")
    return match.group(1).decode()


def probe_process(probes, stop, results):
    asyncio.run(probes.run(stop))
    results.put((probes.latencies, probes.failures))


async def under_probes(probes, attack):
    """Runs `attack` while `probes` ask in a process of their own (so that the attackers' event
    loop does not delay them), then takes their figures into `probes`."""
    stop, results = multiprocessing.Event(), multiprocessing.Queue()
    prober = multiprocessing.Process(target=probe_process, args=(probes, stop, results))
    prober.start()
    try:
        return await attack
    finally:
        stop.set()
        probes.latencies, probes.failures = results.get(timeout=60)
        prober.join()


async def main(args):
    iin = "900101300007"
    with tempfile.TemporaryDirectory() as data_dir, \
            open(os.path.join(data_dir, "egov.log"), "w+") as log:
        process, port, env = start_egov(args.egov, os.path.join(data_dir, "pg"), log)
        try:
            token = token_for(args.egov, env, iin)
            number = await file_request(port, token, iin)
            probes = Probes(port, token, number, args.probe_timeout)
            await under_probes(probes, asyncio.sleep(2))
            figures = [f"baseline: RSS {rss_mb(process.pid):.1f} MB; {probes.summary()}"]

            probes = Probes(port, token, number, args.probe_timeout)
            started = time.monotonic()
            logged = os.path.getsize(log.name)
            statuses = await under_probes(probes, junk_flood(port, args.flood, 64))
            took = time.monotonic() - started
            # A refused token is the client's mistake, not the operator's concern: a flood of
            # them must not become a flood of the server's log (RUST_LOG=warn here).
            with open(log.name, encoding="utf-8", errors="replace") as written:
                written.seek(logged)
                log_lines = sum(1 for _ in written)
            figures.append(f"junk-token flood: {sum(statuses.values())} requests in {took:.1f} s "
                           f"({sum(statuses.values()) / took:.0f}/s), answers {statuses}; "
                           f"log lines {log_lines}; "
                           f"RSS after {rss_mb(process.pid):.1f} MB; probes: {probes.summary()}")
            failures = list(probes.failures)

            probes = Probes(port, token, number, args.probe_timeout)
            statuses = await under_probes(probes, header_flood(port, 200))
            figures.append(f"header flood (400 x 1 KiB headers): answers {statuses}; "
                           f"RSS after {rss_mb(process.pid):.1f} MB; probes: {probes.summary()}")
            failures += probes.failures

            probes = Probes(port, token, number, args.probe_timeout)
            peak = [0.0]

            async def watch_rss(stop):
                while not stop.is_set():
                    peak[0] = max(peak[0], rss_mb(process.pid))
                    await asyncio.sleep(0.5)

            stop = asyncio.Event()
            watcher = asyncio.create_task(watch_rss(stop))
            stats = await under_probes(
                probes, slowloris(port, args.connections, args.seconds, token))
            stop.set()
            await watcher
            await asyncio.sleep(6)
            figures.append(f"slowloris ({args.connections} connections, {args.seconds} s): {stats}; "
                           f"RSS peak {peak[0]:.1f} MB, after {rss_mb(process.pid):.1f} MB; "
                           f"probes: {probes.summary()}")
            failures += probes.failures
            alive = process.poll() is None
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    for line in figures:
        print(line)
    fivexx = [f for f in failures if f.startswith("status 5")]
    if failures or fivexx or not alive:
        print(f"FAILED: {len(failures)} probe failures {failures[:5]}, server alive: {alive}")
        return 1
    print("ok: every probe answered, no 5xx, the server lives")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--egov", default=os.environ.get("EGOV_BIN", "target/release/egov"))
    parser.add_argument("--flood", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--probe-timeout", type=float, default=5.0)
    sys.exit(asyncio.run(main(parser.parse_args())))
