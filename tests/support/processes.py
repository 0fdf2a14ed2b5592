"""Finding the embedded servers' processes from the outside (psutil), to prove none is left.

Written independently of registry.embedded on purpose: it checks that module's claims.
"""

from __future__ import annotations

from pathlib import Path

import psutil


def processes_under(root: Path) -> list[psutil.Process]:
    """postgres/valkey-server processes whose command line or working directory is under root."""
    root = root.resolve()
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] not in {"postgres", "valkey-server"}:
            continue
        try:
            mentioned = str(root) in " ".join(proc.info["cmdline"] or [])
            if mentioned or Path(proc.cwd()).is_relative_to(root):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found
