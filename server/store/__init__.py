"""Storage on MongoDB: the only package that imports pymongo/mongoengine."""

from server.store.clients import ClientStore, RegisteredClient
from server.store.model import Candidate, NewVersion, StoredResource
from server.store.resources import ResourceStore, Transaction

__all__ = ["Candidate", "ClientStore", "NewVersion", "RegisteredClient", "ResourceStore",
           "StoredResource", "Transaction"]
