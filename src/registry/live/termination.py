"""Noticing that the server is stopping while responses are still open.

granian and uvicorn both drain open responses first and run the app's lifespan shutdown only
afterwards (measured: granian 2.8 waits on an open stream until its worker kill timeout). A
stream that waits for the lifespan would hold the drain. So the live feed also hooks SIGTERM
and SIGINT: it chains a handler in front of the server's own, which still runs (a handler
installed with signal.signal; the server's asyncio handler is reached through the loop's
wake-up fd as before, uvicorn's through the chained call).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, Final

SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


def on_termination(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]
) -> Callable[[], None]:
    """Call `callback` in `loop` when the process gets SIGTERM or SIGINT; returns what undoes
    it. Signals are only the main thread's: elsewhere this does nothing (streams then end by
    their own time limit)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            loop.call_soon_threadsafe(callback)
        before = previous.get(signum)
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL:  # what would have happened without us
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    for sig in SIGNALS:
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)

    def undo() -> None:
        for sig, before in previous.items():
            if signal.getsignal(sig) is handler and before is not None:
                signal.signal(sig, before)

    return undo
