"""How the app writes a shot's times and user-given text (titles, names) on the page."""

from __future__ import annotations


def clock(seconds: float) -> str:
    """``m:ss.s`` (e.g. ``1:05.3``) of a time in seconds."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{secs:04.1f}"


def inert(text: str) -> str:
    """Markdown-escaped text: titles and names never render as markup."""
    special = "\\`*_{}[]()#+-.!|<>~$:"
    return "".join("\\" + c if c in special else c for c in text)
