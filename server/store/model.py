"""What the store hands back: plain dataclasses, no MongoDB types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One version of a resource as stored.

    `body` is the serialised FHIR JSON (with `meta.versionId`/`meta.lastUpdated` set), or None
    for a deletion tombstone. `method` is the interaction that produced the version
    (POST, PUT, PATCH or DELETE). Its access labels: `owner`, the agency that authored the
    resource (`Organization/id`), and `subjects`, the children it is about (`Patient/id`;
    None for versions stored before labels existed).
    """

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    body: bytes | None
    method: str = "PUT"
    owner: str | None = None
    subjects: tuple[str, ...] | None = None

    @property
    def reference(self) -> str:
        """The relative reference `Type/id`."""
        return f"{self.resource_type}/{self.id}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A current resource's search index entry, returned by `ResourceStore.candidates`."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    index: dict[str, Any]
    owner: str | None = None
    subjects: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version to write: the interaction layer fills it, the store persists it as-is."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    body: bytes | None
    index: dict[str, Any] | None
    method: str
    owner: str | None = None
    subjects: tuple[str, ...] = ()

    @property
    def deleted(self) -> bool:
        return self.body is None

    def as_stored(self) -> StoredResource:
        """Return the version as it reads back once stored."""
        return StoredResource(
            resource_type=self.resource_type, id=self.id, version_id=self.version_id,
            last_updated=self.last_updated, deleted=self.deleted, body=self.body,
            method=self.method, owner=self.owner, subjects=self.subjects,
        )
