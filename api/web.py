"""The terminal's built files (`web/`, built by Vite into `api/www`) and the headers the page is served with.

The page runs only its own scripts and styles (no inline script, no other origin: a Content-Security-Policy says
so), talks only to this gateway (REST and its Socket.IO WebSocket), and may not be framed by another site.
"""

import re
from pathlib import Path

WWW = Path(__file__).resolve().parent / "www"
ASSET_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.(js|css|svg|png|woff2)$")  # what Vite writes; no path can climb out
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
    "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"))
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
NOT_BUILT = "the terminal is not built: `make web` (or `make run`) builds it from web/ with npm"


def page() -> Path | None:
    """Return the built page, or None before `make web`."""
    index = WWW / "index.html"
    return index if index.is_file() else None


def asset(name: str) -> Path | None:
    """Return a built asset by its file name, or None."""
    if not ASSET_NAME.match(name):
        return None
    found = WWW / "assets" / name
    return found if found.is_file() else None
