"""Durable storage: the Store interface and its SQLite and PostgreSQL backends."""

from tastemaker.storage.base import AppendResult, DeadLetter, Store
from tastemaker.storage.factory import open_store

__all__ = ["AppendResult", "DeadLetter", "Store", "open_store"]
