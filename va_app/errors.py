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
