"""Group commit: concurrent appends share one `insert_many`, and each caller returns only once
its own document is acknowledged by the database.

This is how reads are audited without an insert round trip each: while one batch is being
written, the next requests' AuditEvents queue up and go together in the next batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

Doc = dict[str, Any]
MAX_BATCH = 500


class GroupCommit:
    """Appends documents to one collection in shared batches."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection
        self._pending: list[tuple[Doc, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, doc: Doc) -> None:
        """Insert `doc`; return when it is stored (raises what the insert raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((doc, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        await done

    async def _write_batches(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await self.collection.insert_many([doc for doc, _ in batch], ordered=False)
            except Exception as exc:  # every waiter of the batch learns of the failure
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)
