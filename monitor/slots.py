"""Which client serves the next request: one client per concurrency slot, and the
idle one that last spoke to the request's host when there is one.

Why: a client per slot keeps httpcore's pool tiny (its per-request scan of the
pool cost ~12 ms with 100 connections in one client), and host affinity lets
that tiny pool still reuse a kept-alive connection to the host, where a random
free client would have to open a new one.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Generic, TypeVar

Client = TypeVar("Client")


class SlotClients(Generic[Client]):
    """`client = await slots.take(host)` ... `slots.give_back(client, host)`."""

    def __init__(self, clients: list[Client]):
        self.all = list(clients)
        self._free = asyncio.Semaphore(len(clients))
        self._idle: OrderedDict[Client, str] = OrderedDict((client, "") for client in clients)  # oldest first
        self._idle_by_host: dict[str, set[Client]] = {"": set(clients)}

    async def take(self, host: str) -> Client:
        await self._free.acquire()
        same_host = self._idle_by_host.get(host)
        client = next(iter(same_host)) if same_host else next(iter(self._idle))
        last_host = self._idle.pop(client)
        peers = self._idle_by_host[last_host]
        peers.discard(client)
        if not peers:
            del self._idle_by_host[last_host]
        return client

    def give_back(self, client: Client, host: str) -> None:
        self._idle[client] = host
        self._idle_by_host.setdefault(host, set()).add(client)
        self._free.release()
