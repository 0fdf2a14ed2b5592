"""A throwaway Redis Cluster on 127.0.0.1: three primaries with one replica each, from the local
`redis-server` binary, in a temporary folder, no persistence. Used by tests/cluster/ and
bench/gate_cluster.py.

`redis-cli --cluster create` assigns the slots and pairs each replica with a primary
(https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/#create-a-redis-cluster).
`failover` promotes the replica of the primary owning a key's slot: by `CLUSTER FAILOVER` (a
manual failover: the primary stops its clients until the replica has every write, then they
swap, so nothing is lost: https://redis.io/docs/latest/commands/cluster-failover/), or by killing
the primary and letting the replica win the election once `cluster-node-timeout` has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import redis
import redis.asyncio as aioredis

SERVER: Final = shutil.which("redis-server") or "/usr/bin/redis-server"
CLI: Final = shutil.which("redis-cli") or "/usr/bin/redis-cli"
#: How long a primary may be unreachable before its replica takes over (ms); short for tests.
NODE_TIMEOUT_MS: Final = 1000
#: The cluster bus of a node listens on its port + 10000 (the Redis Cluster spec).
BUS_OFFSET: Final = 10_000


def binaries_present() -> bool:
    return Path(SERVER).is_file() and Path(CLI).is_file()


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Ports whose cluster bus port is free too (the OS's pick, kept below 55536)."""
    found: list[int] = []
    while len(found) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + BUS_OFFSET < 65536 and port not in found and _bindable(port + BUS_OFFSET):
            found.append(port)
    return found


@dataclass
class Node:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class RedisClusterServers:
    folder: Path
    nodes: dict[int, Node] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """A `redis+cluster://` URL naming one node (the client learns the others)."""
        return f"redis+cluster://127.0.0.1:{min(self.live())}"

    def start_node(self, port: int) -> Node:
        node_dir = self.folder / str(port)
        node_dir.mkdir(exist_ok=True)
        command = [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)]
        command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        command += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--save", "", "--appendonly"]
        command += ["no", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=node_dir
        )
        node = self.nodes[port] = Node(port, process)
        _until(lambda: _answers(port), 10, f"redis-server on {port} answering")
        return node

    def cli(self, port: int, *command: str) -> str:
        """A command's raw answer through redis-cli (redis-py parses CLUSTER NODES and INFO)."""
        done = subprocess.run(
            [CLI, "-p", str(port), *command], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip()

    def info(self, port: int, section: str) -> dict[str, str]:
        text = self.cli(port, "CLUSTER", "INFO") if section == "cluster" else self.cli(port, "INFO")
        return dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)

    def live(self) -> list[int]:
        return [port for port, node in self.nodes.items() if node.process.poll() is None]

    def primary_of(self, key: str) -> tuple[int, int | None]:
        """(primary port, replica port or None) of the shard owning the key's slot, as a live
        node sees it now. From CLUSTER NODES: CLUSTER SLOTS leaves out a replica that has not
        replicated a write yet (its offset is 0)."""
        slot = int(self.cli(self.live()[0], "CLUSTER", "KEYSLOT", key))
        text = self.cli(self.live()[0], "CLUSTER", "NODES")
        nodes = [line.split() for line in text.splitlines() if line.strip()]
        port = {n[0]: int(n[1].split("@")[0].rsplit(":", 1)[1]) for n in nodes}
        for n in nodes:
            flags = n[2].split(",")
            if "master" not in flags or "fail" in flags:
                continue
            for spec in n[8:]:
                first, _, last = spec.partition("-")
                if not spec.startswith("[") and int(first) <= slot <= int(last or first):
                    replicas = [port[r[0]] for r in nodes if r[3] == n[0] and "fail" not in r[2]]
                    return port[n[0]], replicas[0] if replicas else None
        raise LookupError(f"no node owns slot {slot}")

    def healthy(self) -> bool:
        """Every live node says cluster_state:ok and knows three primaries with a replica each,
        linked and in sync (a replica still syncing cannot take over)."""
        for port, node in self.nodes.items():
            if node.process.poll() is not None:
                continue
            info = self.info(port, "cluster")
            if info.get("cluster_state") != "ok" or info.get("cluster_size") != "3":
                return False
            replication = self.info(port, "replication")
            if replication.get("role") == "slave" and replication["master_link_status"] != "up":
                return False
        return True

    async def replicated(self, key: str) -> None:
        """Until the replica of the key's shard has every write its primary has."""

        def offsets() -> tuple[str, str]:
            primary, replica = self.primary_of(key)
            assert replica is not None, f"the primary {primary} has no replica"
            return (
                self.info(primary, "replication")["master_repl_offset"],
                self.info(replica, "replication").get("slave_repl_offset", ""),
            )

        deadline = time.monotonic() + 10
        while len(set(await asyncio.to_thread(offsets))) > 1:
            assert time.monotonic() < deadline, "the replica not in sync within 10 s"
            await asyncio.sleep(0.02)

    async def failover(
        self, key: str, *, kill: bool = False, resync: bool = True
    ) -> tuple[int, int]:
        """Promote the replica of the shard owning `key`; returns (old primary, new primary).
        With `resync`, after a manual failover, wait until the old primary replicates the new."""
        primary, replica = self.primary_of(key)
        assert replica is not None, f"the primary {primary} has no replica"
        if kill:
            self.nodes[primary].process.kill()
            self.nodes[primary].process.wait(10)
        else:
            client = aioredis.Redis(port=replica)
            try:
                await client.execute_command("CLUSTER FAILOVER")
            finally:
                await client.aclose()

        async def promoted() -> bool:
            try:
                return await asyncio.to_thread(lambda: self.primary_of(key)[0] == replica)
            except LookupError:  # the primary is failed and its replica not yet elected
                return False

        deadline = time.monotonic() + 20
        while not await promoted():
            assert time.monotonic() < deadline, f"{replica} not promoted within 20 s"
            await asyncio.sleep(0.05)
        if resync and not kill:  # the old primary follows the new one: until it is in sync
            while not await asyncio.to_thread(self.healthy) or self.primary_of(key)[1] is None:
                assert time.monotonic() < deadline, f"{primary} not a replica within 20 s"
                await asyncio.sleep(0.05)
        return primary, replica

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.process.poll() is None:
                node.process.kill()
            node.process.wait(10)


def _answers(port: int) -> bool:
    with contextlib.closing(redis.Redis(port=port, socket_timeout=0.5)) as client:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False


def _until(condition: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within} s: {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def redis_cluster(primaries: int = 3) -> Iterator[RedisClusterServers]:
    """Started, formed and healthy; every process killed and the folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="registry-redis-cluster-") as folder:
        servers = RedisClusterServers(Path(folder))
        try:
            for port in free_ports(primaries * 2):
                servers.start_node(port)
            addresses = [node.address for node in servers.nodes.values()]
            create = [CLI, "--cluster", "create", *addresses, "--cluster-replicas", "1"]
            subprocess.run([*create, "--cluster-yes"], check=True, capture_output=True, timeout=60)
            _until(servers.healthy, 30, "the cluster healthy, every replica in sync")
            yield servers
        finally:
            servers.stop()
