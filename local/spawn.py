"""Start ``python -m local.stack`` (what ``make serve`` runs) as a child process on free ports,
for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from local.stack import ROOT, free_port


@dataclass
class Served:
    url: str
    moto_url: str
    key: str
    proc: subprocess.Popen[str]
    startup_s: float
    output: list[str] = field(default_factory=list)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def _keep_draining(proc: subprocess.Popen[str], output: list[str], keep: int = 2000) -> None:
    """Read the stack's output for as long as it runs: a full pipe would block its logging (and
    with it the API and the indexer) once a long run has written 64 kB. The last ``keep`` lines
    stay in ``output`` for diagnostics."""

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if len(output) > keep:
                del output[: len(output) - keep]

    threading.Thread(target=drain, name="stack-output", daemon=True).start()


def spawn_stack(state_dir: Path, key: str, extra_env: dict[str, str] | None = None) -> Served:
    port, moto_port, gate_port = free_port(), free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
        "PORT": str(port),
        "MOTO_PORT": str(moto_port),
        "S3_GATE_PORT": str(gate_port),
        "STATE_DIR": str(state_dir),
        "DEMO_API_KEY": key,
        **(extra_env or {}),
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.stack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("API key:"):
            _keep_draining(proc, output)
            return Served(
                f"http://127.0.0.1:{port}",
                f"http://127.0.0.1:{moto_port}",
                line.split(":", 1)[1].strip(),
                proc,
                time.monotonic() - started,
                output,
            )
    proc.kill()
    raise RuntimeError("the local stack did not start:\n" + "".join(output))
