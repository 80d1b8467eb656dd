"""Ingestion: validation, pseudonymization, dedupe, dead letters, bulk import."""

from tastemaker.ingest.pseudonymize import Pseudonymizer
from tastemaker.ingest.service import EventListener, Ingestor

__all__ = ["EventListener", "Ingestor", "Pseudonymizer"]
