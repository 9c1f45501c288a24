"""A ClickHouse server's HTTP interface on loopback, its queries run by chDB: the real engine behind the real wire
format, as a process of its own that a test can freeze (SIGSTOP) or kill. No ClickHouse server of a version the
migrations need installs here (Debian has 18.16), and chDB is in-process: it cannot become unreachable.

It answers what clickhouse-connect's HTTP client sends for queries and commands: the statement in the body or the
`query` parameter (its format named inside it), `param_<name>` values for `{name:Type}`, `database`; other settings
are taken and ignored. An error is answered as ClickHouse answers one: status 500, `X-ClickHouse-Exception-Code`
and the message. An insert's data is taken inline after its statement (as text: a migration's version rows).

`own_clickhouse(path)` runs it as `python -m tests.quantdesk.clickhouse_http PATH`, which prints its port once it
listens.
"""

import re
import signal
import subprocess
import sys
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl, urlsplit

from chdb import session

from tests.conftest import ROOT, unavailable

CODE = re.compile(r"Code: (\d+)")


class ClickHouseHandler(BaseHTTPRequestHandler):
    """Run each request's statement in the server's chDB session."""

    engine: session.Session

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        """Answer a statement sent in the URL."""
        self.answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        """Answer a statement sent in the body or the URL."""
        self.answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def answer(self, body: bytes) -> None:
        """Run the statement and send its output, or ClickHouse's error answer."""
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        sql = " ".join(part for part in (params.get("query", ""), body.decode()) if part)
        values = {name.removeprefix("param_"): value for name, value in params.items() if name.startswith("param_")}
        try:
            if database := params.get("database"):
                self.engine.query(f"USE {database}")
            output = self.engine.query(sql, "TabSeparated", params=values).bytes() if sql.strip() else b"Ok.\n"
        except Exception as exc:  # ClickHouse's own message, as the server sends it
            code = CODE.search(str(exc))
            message = str(exc).encode()
            self.send_response(500)
            self.send_header("X-ClickHouse-Exception-Code", code[1] if code else "1000")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        self.send_response(200)
        self.send_header("X-ClickHouse-Timezone", "UTC")
        self.send_header("X-ClickHouse-Summary", '{"read_rows":"0","written_rows":"0"}')
        self.send_header("Content-Length", str(len(output)))
        self.end_headers()
        self.wfile.write(output)

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: a test reads its own answers."""


@contextmanager
def own_clickhouse(path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run a ClickHouse HTTP server of the caller's own on chDB at `path`; yield its process and DSN."""
    process = subprocess.Popen([sys.executable, "-m", "tests.quantdesk.clickhouse_http", str(path)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()  # the server's first words: it listens
        if not port.isdigit():
            unavailable("a ClickHouse HTTP server on chDB", f"it exited with {process.wait(timeout=10)}")
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)


def main(path: str) -> None:
    """Serve the chDB engine at `path` on a free loopback port, printed once listening."""
    ClickHouseHandler.engine = session.Session(path)
    HTTPServer.request_queue_size = 64  # callers at once wait to be answered, not to connect
    server = HTTPServer(("127.0.0.1", 0), ClickHouseHandler)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
