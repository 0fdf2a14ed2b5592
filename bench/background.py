"""A sampler that runs in a thread of its own for the duration of a `with` block (the load
generators block the caller): bench/lag.py, bench/rss.py."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self


class Background:
    """Subclasses define `work(stop)`: sample until `stop` is set."""

    def work(self, stop: threading.Event) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.work, args=(self._stop,), daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(10)
