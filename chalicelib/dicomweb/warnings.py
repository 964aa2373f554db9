"""The ``Warning`` response header of PS3.18 8.3.4.1 / 8.3.4.4: code 299, the agent (the host
the client called) and a quoted text per message.

The messages echo client input (parameter names a client chose), so each is made header-safe:
visible ASCII only, quotes and backslashes escaped, length capped.
"""

from __future__ import annotations

from collections.abc import Sequence

WARNING_TEXT_LIMIT = 200  # per message; the header echoes client input, so it stays small


def _quoted_text(message: str) -> str:
    """A header-safe quoted-string body: visible ASCII only (HTTP field values are latin-1 at
    best, and the messages echo client-chosen parameter names), quotes and backslashes escaped,
    length capped."""
    text = message.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in text)
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    if len(text) > WARNING_TEXT_LIMIT:
        text = text[: WARNING_TEXT_LIMIT - 3].rstrip("\\") + "..."
    return text


def warning_header(host: str, messages: Sequence[str]) -> dict[str, str]:
    """PS3.18 8.3.4.1 / 8.3.4.4 Warning header (299); no header without a message."""
    if not messages:
        return {}
    return {"Warning": ", ".join(f'299 {host} "{_quoted_text(m)}"' for m in messages)}
