"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for load generation.

httpx spends about a millisecond of CPU per request; on a 2-core machine shared with the server
and the database, that would measure the client. This client does the least work HTTP allows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive connection; requests on it are sequential."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> Reply:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Content-Length: {len(body)}"]
        if body:
            lines.append("Content-Type: application/fhir+json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        reply_headers = {}
        for line in header_lines:
            if line:
                key, _, value = line.partition(":")
                reply_headers[key.strip().lower()] = value.strip()
        length = int(reply_headers.get("content-length", "0"))
        data = await self.reader.readexactly(length) if length else b""
        return Reply(int(status_line.split()[1]), reply_headers, data)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


class Pool:
    """A fixed set of connections handed out one request at a time."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.free: asyncio.Queue[Connection] = asyncio.Queue()
        self.all = [Connection(host, port) for _ in range(size)]
        for connection in self.all:
            self.free.put_nowait(connection)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> Reply:
        connection = await self.free.get()
        try:
            return await connection.request(method, path, body, headers)
        finally:
            self.free.put_nowait(connection)

    async def close(self) -> None:
        for connection in self.all:
            await connection.close()
