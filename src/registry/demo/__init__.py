"""The demo: a sample programme (examples/almelo.json) loaded through the public HTTP API, and a
scripted round of sign-ups by invented participants that fills a few sessions, so that seats,
waitlists, switches and promotions all show.

Everything here talks to the API over HTTP (httpx) with API keys, as a form backend or an
organiser's tool would: it exercises the public contract (API.md), never the internals.
``registry demo`` (cli.py) runs it against a server it starts; the tests run it in process.

The round is deterministic for a given seed. Its participants favour the first session listed in
each time slot (the headline), so the small headline rooms fill and queue. In three phases:

1. sign-ups: each participant asks for one session per time slot (sometimes skipping one);
2. changes: some switch sessions within a slot with ``replaces`` (a full target queues them and
   keeps their seat as the fallback), a few try a second session at the same time without it
   (409 ``time-conflict`` when it has a free seat, a queue place otherwise);
3. cancellations: some give up one seat (promoting the queue), a few their whole registration.
"""

from __future__ import annotations

from registry.demo.report import agendas, occupancy, play, try_lines
from registry.demo.round import load_demo, sign_up_round
from registry.demo.sample import DemoError, capacities, read_example, time_slots

__all__ = [
    "DemoError",
    "agendas",
    "capacities",
    "load_demo",
    "occupancy",
    "play",
    "read_example",
    "sign_up_round",
    "time_slots",
    "try_lines",
]
