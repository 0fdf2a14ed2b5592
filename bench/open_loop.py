"""Reads at a fixed rate alongside a load: an open-loop HTTP client in a process of its own.

    python -m bench.open_loop URL PATH --rate 1000 --key KEY [--limit 120] [--connections 128]

Request i is due at start + i / rate, whatever happened to the ones before (open loop): a
scheduler puts each due time on a queue, and up to --connections workers, each with its own
HTTP/1.1 keep-alive connection (opened at its first request), take them in order. Latency is
measured from the due time, so time spent waiting for a free connection counts (no coordinated
omission). It runs until SIGINT/SIGTERM or --limit seconds, then waits up to 2 s for the answers
in flight and prints one JSON line: due, answered, rate, p50/p95/p99/max, statuses, errors, its
own CPU seconds.

Why not wrk: wrk only runs closed loops (a connection sends its next request when the previous
one is answered, and a Lua delay() only spaces them), so when the server slows down the rate
drops with it and the waiting is hidden from the latencies. wrk2 (-R) would do this, but it is
not packaged here. Why not httpx: on 2 cores the client's CPU is taken from the servers under
test (bench/http_load.py); this client (asyncio streams on uvloop, requests written by hand,
answers parsed just enough to find their end) is lean, and it prints what it cost (0.17 ms of
CPU per read in a first run).

`ReadLoad` starts it as a subprocess for the duration of a `with` block (bench/rig.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, from the due time
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


async def _answer(reader: asyncio.StreamReader) -> int:
    """Read one answer; its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    return status


async def _worker(
    host: str, port: int, request: bytes, queue: asyncio.Queue[float], tally: Tally
) -> None:
    loop = asyncio.get_running_loop()
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while True:
        due = await queue.get()
        try:
            if streams is None:
                streams = await asyncio.open_connection(host, port)
            reader, writer = streams
            writer.write(request)
            status = await _answer(reader)
            tally.statuses[status] += 1
            tally.latencies.append(loop.time() - due)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
            tally.errors[type(error).__name__] += 1
            if streams is not None:
                streams[1].close()
            streams = None


async def run(
    url: str, path: str, rate: float, key: str, limit: float, connections: int
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("started", flush=True)  # ReadLoad waits for this: a signal from now on is handled
    queue: asyncio.Queue[float] = asyncio.Queue()
    tally = Tally()
    workers = [
        asyncio.create_task(_worker(host, port, request, queue, tally)) for _ in range(connections)
    ]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    start = loop.time()
    due_count = 0
    while not stop.is_set() and (now := loop.time()) < start + limit:
        while start + due_count / rate <= now:  # everything due by now, in order
            queue.put_nowait(start + due_count / rate)
            due_count += 1
        next_due = start + due_count / rate
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, next_due - loop.time()))
    seconds = loop.time() - start
    unsent = queue.qsize()
    while not queue.empty():
        queue.get_nowait()
    grace = loop.time() + 2
    while len(tally.latencies) + sum(tally.errors.values()) < due_count - unsent:
        if loop.time() > grace:
            break
        await asyncio.sleep(0.02)
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    ms = sorted(x * 1000 for x in tally.latencies)

    def pct(q: float) -> float:
        return ms[min(len(ms) - 1, int(len(ms) * q))] if ms else 0.0

    answered = len(ms)
    return {
        "rate_asked": rate,
        "seconds": seconds,
        "due": due_count,
        "answered": answered,
        "unsent": unsent,
        "rate": answered / seconds if seconds else 0.0,
        "p50_ms": statistics.median(ms) if ms else 0.0,
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": ms[-1] if ms else 0.0,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "errors": dict(tally.errors),
        "cpu_s": (cpu_after.ru_utime + cpu_after.ru_stime)
        - (cpu_before.ru_utime + cpu_before.ru_stime),
    }


def summary(result: dict[str, Any]) -> str:
    """One line of figures, in the style of http_load.LoadResult.summary()."""
    statuses = ", ".join(f"{s}: {n}" for s, n in result["statuses"].items())
    not_ok = sum(n for s, n in result["statuses"].items() if s != "200")
    errors = sum(result["errors"].values()) + not_ok
    per_ms = 1000 * result["cpu_s"] / max(result["answered"], 1)
    return (
        f"{result['rate']:>8,.0f}/s of {result['rate_asked']:,.0f} asked  p50"
        f" {result['p50_ms']:6.1f} ms  p95 {result['p95_ms']:6.1f} ms  p99"
        f" {result['p99_ms']:6.1f} ms  ({result['answered']:,} of {result['due']:,} due in"
        f" {result['seconds']:.1f} s; status {statuses or '-'}; errors {errors}"
        + (f" {result['errors']}" if result["errors"] else "")
        + (f"; {result['unsent']:,} never sent" if result["unsent"] else "")
        + f"; client CPU {per_ms:.2f} ms/read)"
    )


class ReadLoad:
    """`python -m bench.open_loop` while `running()` is entered; `.result` afterwards."""

    def __init__(self, url: str, path: str, rate: float, key: str, limit: float) -> None:
        self.cmd = [sys.executable, "-m", "bench.open_loop", url, path, "--rate", str(rate)]
        self.cmd += ["--key", key, "--limit", str(limit)]
        self.result: dict[str, Any] | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[ReadLoad]:
        proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # "started"
        try:
            yield self
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                out, _ = proc.communicate(timeout=30)
                lines = out.strip().splitlines()
                self.result = json.loads(lines[-1]) if lines else None
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()

    def summary(self) -> str:
        return summary(self.result) if self.result else "reads: the client printed nothing"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--key", required=True, help="API key (Bearer)")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds at most")
    parser.add_argument("--connections", type=int, default=128, help="at most")
    args = parser.parse_args()
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    started = time.monotonic()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(
            run(args.url, args.path, args.rate, args.key, args.limit, args.connections)
        )
    result["wall_s"] = time.monotonic() - started
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
