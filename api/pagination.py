"""One way to page through history on every list endpoint.

A list is a JSON array, oldest first, of at most `limit` rows (1,500 at most) in `[start, end)`
(UTC ms). Without `start` it holds the newest rows before `end`. When more rows may follow, the
response names the next page: `X-Next-Cursor` (pass it back as `cursor`) and a `Link: <…>; rel="next"`.
"""

import base64
import binascii
from dataclasses import dataclass, replace
from typing import Annotated, Any, Callable

from fastapi import Depends, HTTPException, Query, Request, Response

MAX_LIMIT = 1500
FAR_FUTURE_MS = 1 << 53
# a cursor is base64 of "<ts>:<id>"; an id may name its cause (up to 512 characters), an account and a suffix
MAX_CURSOR = 2048


@dataclass(frozen=True)
class Window:
    """Which rows a page covers: [start, end) in UTC ms, after a (time, id) cursor, at most `limit`."""

    start: int | None
    end: int
    limit: int
    after: tuple[int, str] | None = None

    @property
    def newest(self) -> bool:
        """Return whether the page is the newest rows before `end` (no start, no cursor)."""
        return self.start is None and self.after is None


def encode_cursor(ts: int, row_id: str = "") -> str:
    """Return the opaque cursor that continues after the row (ts, id)."""
    return base64.urlsafe_b64encode(f"{ts}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Return the (ts, id) a cursor continues after, or refuse one this API did not give."""
    try:
        ts, _, row_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        after = int(ts)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise HTTPException(422, "cursor: not a cursor this API gave") from exc
    if not 0 <= after <= FAR_FUTURE_MS:
        raise HTTPException(422, "cursor: not a cursor this API gave")
    return after, row_id


def window(
    start: Annotated[int | None, Query(ge=0, le=FAR_FUTURE_MS, description="UTC ms, inclusive")] = None,
    end: Annotated[int | None, Query(ge=0, le=FAR_FUTURE_MS, description="UTC ms, exclusive; default: none")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")] = 500,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR, description="X-Next-Cursor of the previous page")] = None,
) -> Window:
    """Return the page a request asks for."""
    after = decode_cursor(cursor) if cursor else None
    if start is not None and end is not None and start >= end:
        raise HTTPException(422, "start must be before end")
    return Window(start, FAR_FUTURE_MS if end is None else end, limit, after)


PageWindow = Annotated[Window, Depends(window)]
PAGED = {200: {"headers": {
    "X-Next-Cursor": {"description": "cursor of the next page, when this one is full", "schema": {"type": "string"}},
    "Link": {"description": '`<url>; rel="next"` of the next page', "schema": {"type": "string"}}}}}


@dataclass(frozen=True)
class Page:
    """The window a list request asks for, and the response that names its next page."""

    window: Window
    request: Request
    response: Response

    def linked(self, rows: list[dict[str, Any]],
               key: Callable[[dict[str, Any]], tuple[int, str]]) -> list[dict[str, Any]]:
        """Return the rows, naming the next page in the headers when this one is full and read forward."""
        if len(rows) < self.window.limit or self.window.newest:
            return rows
        cursor = encode_cursor(*key(rows[-1]))
        self.response.headers["X-Next-Cursor"] = cursor
        self.response.headers["Link"] = f'<{self.request.url.include_query_params(cursor=cursor)}>; rel="next"'
        return rows


def page(request: Request, response: Response, window: PageWindow) -> Page:
    """Return the page a list request asks for, with where to name the next one."""
    return Page(window, request, response)


Paged = Annotated[Page, Depends(page)]


Since = Annotated[int | None, Query(ge=0, le=FAR_FUTURE_MS,
                                    description="UTC ms, inclusive: the page starts here (with `start`, the later)")]


def since_page(page: Paged, since: Since = None) -> Page:
    """Return the page a list request asks for, starting no earlier than `since` and read forward from it."""
    if since is None:
        return page
    start = max(since, page.window.start or 0)
    if start >= page.window.end:
        raise HTTPException(422, "since must be before end")
    return replace(page, window=replace(page.window, start=start))


SincePaged = Annotated[Page, Depends(since_page)]
