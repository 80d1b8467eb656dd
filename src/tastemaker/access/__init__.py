"""Access control: scoped API keys, the one access check, rate limits and the audit log."""

from tastemaker.access.audit import AuditLog, cli_actor
from tastemaker.access.gate import AccessGate, Principal, is_loopback
from tastemaker.access.keys import SCOPES, CreatedKey, KeyRing
from tastemaker.access.ratelimit import RateLimiter

__all__ = [
    "SCOPES",
    "AccessGate",
    "AuditLog",
    "CreatedKey",
    "KeyRing",
    "Principal",
    "RateLimiter",
    "cli_actor",
    "is_loopback",
]
