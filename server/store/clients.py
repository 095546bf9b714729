"""Registered clients (agency systems) and the client-assertion ids already used."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server.errors import Conflict

Doc = dict[str, Any]


@dataclass(frozen=True)
class RegisteredClient:
    """An agency system allowed to ask for tokens.

    `jwks` holds its public keys (for private_key_jwt); `secret_hash` is set only for a
    shared-secret client (local development). `scopes` is the most it may be granted.
    """

    client_id: str
    name: str
    agency: str | None
    scopes: str
    jwks: list[dict[str, Any]] = field(default_factory=list)
    secret_hash: str | None = None
    operator: bool = False
    status: str = "active"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    revoked: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


def _client(doc: Doc) -> RegisteredClient:
    values = {k: v for k, v in doc.items() if k != "_id"}
    return RegisteredClient(client_id=doc["_id"], **values)


class ClientStore:
    """The `clients` collection, and `assertions` (used client-assertion ids, until expiry)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.clients = db["clients"]
        self.assertions = db["assertions"]

    async def add(self, client: RegisteredClient) -> None:
        """Register a client; raises `Conflict` if the id is taken."""
        doc = asdict(client)
        doc["_id"] = doc.pop("client_id")
        try:
            await self.clients.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict(f"client '{client.client_id}' already exists") from exc

    async def get(self, client_id: str) -> RegisteredClient | None:
        doc = await self.clients.find_one({"_id": client_id})
        return _client(doc) if doc else None

    async def all(self) -> list[RegisteredClient]:
        return [_client(d) async for d in self.clients.find({}).sort("created", 1)]

    async def revoke(self, client_id: str) -> bool:
        """Revoke a client; returns False if it does not exist or was already revoked."""
        result = await self.clients.update_one(
            {"_id": client_id, "status": "active"},
            {"$set": {"status": "revoked", "revoked": datetime.now(UTC)}})
        return result.modified_count == 1

    async def revoked_ids(self) -> frozenset[str]:
        return frozenset([d["_id"] async for d in self.clients.find({"status": "revoked"},
                                                                    {"_id": 1})])

    async def first_use(self, client_id: str, jti: str, expires: datetime) -> bool:
        """Record a client assertion id; False if it was used before (a replay)."""
        await self.assertions.delete_many({"exp": {"$lt": datetime.now(UTC)}})
        try:
            await self.assertions.insert_one({"_id": f"{client_id}|{jti}", "exp": expires})
        except DuplicateKeyError:
            return False
        return True
