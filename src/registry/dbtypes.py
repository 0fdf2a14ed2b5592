"""Types shared by everything that talks to PostgreSQL."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: A connection of our own or one lent by a pool; both answer the same queries.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
