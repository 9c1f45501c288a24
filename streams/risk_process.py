"""The risk workers (the accounts agent's tasks) in processes of their own, beside the gateway and feed.

Re-margining and exact account math are the heaviest per-event work: in a process of its own the
risk engine has a core to itself and never holds the gateway's event loop (nor the sink's). The
child (`python -m streams.worker`) gets the parent's settings on stdin, secrets left out (it
inherits them from the environment), stops on SIGTERM, dies with its parent, and is started again
if it dies alone: it goes on from its last checkpoint (`streams.risk.checkpoint`). It has a session
of its own: Ctrl-C is the parent's to handle, which stops it. It writes its metrics to files under
`<data_dir>/metrics/risk` (prometheus_client's multiprocess mode), which the parent's gateway serves.
With `QUANTDESK_RISK_SHARDS` (`quantdesk up --risk-shards N`) N such children share the risk tasks, as the risk
group assigns them, and their metrics files.
"""

import asyncio
import logging
import os
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import orjson
from pydantic import SecretStr

from quantdesk.broker import die_with_parent
from quantdesk.metrics import ChildMetrics
from quantdesk.settings import Settings

log = logging.getLogger(__name__)
RESTART_S = 1.0
STOP_S = 20.0


def child_settings(settings: Settings, bootstrap: str) -> bytes:
    """Return the settings as the child reads them: JSON with the broker resolved, secrets left out."""
    secrets = {name for name, value in settings if isinstance(value, SecretStr)}
    resolved = settings.model_copy(update={"kafka_bootstrap": bootstrap})
    return orjson.dumps(resolved.model_dump(mode="json", exclude=secrets))


def cpu_seconds(pid: int) -> float:
    """Return the CPU seconds (user and system) a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RiskProcess:
    """The child process running the risk role, started again whenever it exits unasked."""

    def __init__(self, settings: Settings, bootstrap: str, metrics: ChildMetrics) -> None:
        self.payload = child_settings(settings, bootstrap)
        self.metrics = metrics
        self.process: asyncio.subprocess.Process | None = None
        self.stopping = False
        self.restarts = 0

    async def start(self) -> None:
        """Start the child and hand it its settings."""
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "streams.worker",
                                                       stdin=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
                                                       start_new_session=True, env=self.metrics.env())
        assert process.stdin is not None
        process.stdin.write(self.payload)
        process.stdin.close()
        self.process = process

    async def supervise(self) -> None:
        """Start the child again, after `RESTART_S`, each time it exits while not asked to stop."""
        while self.process is not None:
            code = await self.process.wait()
            self.metrics.exited(self.process.pid)
            if self.stopping:
                return
            log.error("the risk worker exited with %s; starting it again in %.0f s", code, RESTART_S)
            await asyncio.sleep(RESTART_S)
            if self.stopping:
                return
            self.restarts += 1
            await self.start()

    async def stop(self) -> None:
        """Ask the child to stop (SIGTERM) and wait; kill it after `STOP_S`."""
        self.stopping = True
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_S)
        except TimeoutError:
            log.error("the risk worker did not stop in %.0f s; killing it", STOP_S)
            self.process.kill()
            await self.process.wait()

    def cpu_seconds(self) -> float:
        """Return the CPU seconds the running child has used."""
        assert self.process is not None
        return cpu_seconds(self.process.pid)


@dataclass
class RiskWorkers:
    """The risk worker processes and the metrics files they share."""

    processes: list[RiskProcess]
    metrics: ChildMetrics

    def cpu_seconds(self) -> float:
        """Return the CPU seconds the running children have used."""
        return sum(process.cpu_seconds() for process in self.processes)


@asynccontextmanager
async def risk_workers(settings: Settings, bootstrap: str) -> AsyncIterator[RiskWorkers]:
    """Run `settings.risk_shards` risk workers, each in a child process, until the block exits."""
    metrics = ChildMetrics(settings.data_dir / "metrics" / "risk")
    workers = RiskWorkers([RiskProcess(settings, bootstrap, metrics) for _ in range(settings.risk_shards)], metrics)
    supervisors = []
    try:
        for worker in workers.processes:
            await worker.start()
            supervisors.append(asyncio.create_task(worker.supervise(), name="risk-process"))
        yield workers
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers.processes))
        await asyncio.gather(*supervisors)
