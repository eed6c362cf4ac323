"""Domain errors: each carries a message a user can act on.

Pages show them with ``st.error``; the CLI prints them on one line and exits non-zero.
"""

from __future__ import annotations


class VAError(Exception):
    """Base of every error the user is meant to read."""


class ConfigError(VAError):
    """A setting (environment variable) is missing or malformed."""


class BadVideoError(VAError):
    """A file could not be used as a video; ingest skips it and reports ``reason``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class WeightsNotFoundError(VAError):
    """Encoder weights are not available locally (no network download is attempted)."""


class EncoderMismatchError(VAError):
    """The corpus was built with another encoder than the one in use."""


class StoreError(VAError):
    """The catalog, the embedding matrix or the vector index is unusable or inconsistent."""


class NotFoundError(VAError):
    """A label, shot, video or model version does not exist."""


class ValidationError(VAError):
    """User input (a name, a value, a file) is not acceptable."""


class DiskFullError(StoreError):
    """The disk under the corpus (or a backup's destination) has no room: nothing more was
    written; everything written before is intact, and the same action succeeds once there is
    space again."""


#: Messages of a full disk from the OS, SQLite and PostgreSQL (SQLSTATE 53100).
_DISK_FULL_SIGNS = ("no space left on device", "database or disk is full", "disk full")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) says the disk is full."""
    import errno

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(sign in str(current).lower() for sign in _DISK_FULL_SIGNS):
            return True
        if getattr(current, "sqlstate", None) == "53100":
            return True
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return False
