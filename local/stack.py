"""``make serve``: the whole serverless stack on this machine.

1. moto inside this process (``mock_aws``): the app's and the receiver's S3, DynamoDB and SQS
   calls reach it without HTTP; the same moto answers on ``http://127.0.0.1:$MOTO_PORT`` (a
   thread: moto's own server application on the same backends) for the indexer, the admin CLI
   and any other process. Presigned S3 URLs name the local S3 gate (``local/s3_gate.py``, its
   own port), which checks them as S3 does before moto sees them, while every SDK call goes to
   moto directly. ``LOCAL_MOTO=process`` runs moto as its own process instead (every call over
   HTTP: a STOW cost twice the CPU, measured in docs/benchmarks/README.md; what measures moto's
   memory apart, as bench/large_stow.py does);
2. the resources, from the same definitions infra/ deploys;
3. the indexer (its own process) polling the queue and calling the Lambda handler;
4. objects kept in STATE_DIR put back through the normal event path;
5. a demo tenant and API key (DEMO_API_KEY fixes it; otherwise kept in STATE_DIR);
6. the local front on http://127.0.0.1:$PORT (uvicorn), as CloudFront in AWS: STOW requests
   to the streaming receiver, everything else to the API behind the local gateway
   (``local/front.py``). ``STOW_RECEIVER=off`` leaves STOW to the API (413 past 10 MB), as the
   stack parameter does.

Ctrl-C or SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


def local_environment(
    moto_port: int, state_dir: Path, gate_port: int | None = None
) -> dict[str, str]:
    """The environment the local processes share: boto3 reads AWS_ENDPOINT_URL itself; the
    app's presigned S3 URLs name the S3 gate on ``gate_port`` (None: moto, unchecked)."""
    gate = {"S3_PRESIGN_ENDPOINT_URL": f"http://127.0.0.1:{gate_port}"} if gate_port else {}
    return {
        **gate,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        "STATE_DIR": str(state_dir),
        # what CloudFront adds to every request it forwards; a new one every run
        "ORIGIN_SECRET": os.environ.get("ORIGIN_SECRET") or secrets.token_urlsafe(24),
    }


def demo_key(state_dir: Path) -> str:
    fixed = os.environ.get("DEMO_API_KEY")
    if fixed:
        return fixed
    path = state_dir / "demo-api-key"
    if path.exists():
        return path.read_text().strip()
    from chalicelib.storage.tenants import new_api_key

    key = new_api_key()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


class Stack:
    def __init__(self, port: int, state_dir: Path) -> None:
        self.port = port
        self.state_dir = state_dir
        self.children: list[subprocess.Popen[bytes]] = []
        self.server: Any = None
        self.gate: Any = None
        self.moto: Any = None
        self.moto_in_process = os.environ.get("LOCAL_MOTO", "in-process") != "process"

    def start_moto(self) -> int:
        """moto on its port: in this process (the default) or as its own process."""
        wanted = int(os.environ.get("MOTO_PORT") or self.port + 1)
        moto_port = wanted if port_is_free(wanted) else free_port()
        if self.moto_in_process:
            from local.moto_inprocess import InProcessMoto

            self.moto = InProcessMoto(moto_port)
            return moto_port
        proc = subprocess.Popen(
            [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.children.append(proc)
        wait_http(f"http://127.0.0.1:{moto_port}/moto-api/")
        return moto_port

    def gate_port(self) -> int:
        wanted = int(os.environ.get("S3_GATE_PORT") or self.port + 2)
        return wanted if port_is_free(wanted) else free_port()

    def start_indexer(self, moto_port: int) -> None:
        env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}"}
        proc = subprocess.Popen([sys.executable, "-m", "local.indexer_poller"], cwd=ROOT, env=env)
        self.children.append(proc)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.gate is not None:
            self.gate.close()
        for proc in reversed(self.children):  # the indexer first, moto last
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.moto is not None:
            self.moto.close()

    def run(self) -> None:
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        moto_port = self.start_moto()
        gate_port = self.gate_port()
        os.environ.update(local_environment(moto_port, self.state_dir, gate_port))
        if self.moto is not None:  # this process's clients reach moto in-process, not over HTTP
            del os.environ["AWS_ENDPOINT_URL"]

        import uvicorn

        import app as lambda_app
        from chalicelib.routes.deps import Deps
        from chalicelib.storage.tenants import ALL_SCOPES
        from local.bootstrap import create_resources
        from local.front import Front, front_config, listening_socket
        from local.gateway import LARGE_UPLOAD_HINT, LocalGateway
        from local.s3_gate import serve_gate
        from local.state import ObjectMirror
        from receiver.app import Receiver

        deps = lambda_app.deps
        create_resources(
            deps.clients,
            deps.settings,
            visibility_timeout=int(os.environ.get("LOCAL_VISIBILITY_TIMEOUT", "30")),
        )
        key = demo_key(self.state_dir)
        saved = self.state_dir / "tenants.json"
        if saved.exists():  # tenants and keys made with the admin CLI
            deps.tenants.restore(json.loads(saved.read_text()))
        deps.tenants.create_tenant("demo", "Demo tenant")
        deps.tenants.create_key("demo", ALL_SCOPES, name="demo", api_key=key)
        (self.state_dir / "stack.json").write_text(
            json.dumps(
                {
                    "endpoint": f"http://127.0.0.1:{moto_port}",
                    "region": deps.settings.region,
                    "tenants_table": deps.settings.tenants_table,
                    "catalog_table": deps.settings.catalog_table,
                    "bucket": deps.settings.bucket,
                    "presign_endpoint": deps.settings.s3_presign_endpoint,
                    "state_dir": str(self.state_dir),
                }
            )
        )
        self.start_indexer(moto_port)
        upstream = f"http://127.0.0.1:{moto_port}"
        if self.moto is not None:  # S3's own URL, which mock_aws answers without HTTP
            upstream = deps.clients.s3.meta.endpoint_url
        self.gate = serve_gate(upstream, deps.settings.region, gate_port)
        restored = ObjectMirror(self.state_dir, deps.clients.s3, deps.settings.bucket).restore()

        gateway = LocalGateway(
            lambda_app.app,
            request_limit=deps.settings.request_limit,
            payload_limit=deps.settings.payload_limit,
            large_upload_hint=LARGE_UPLOAD_HINT,
        )
        url = f"http://127.0.0.1:{self.port}"
        from local.harness import use_local_downloads

        use_local_downloads(lambda_app, gateway, url)
        receiver = None
        if os.environ.get("STOW_RECEIVER", "on").lower() not in ("off", "0", "false"):
            receiver = Receiver(Deps(deps.settings))
        front = Front(gateway, receiver, deps.settings.origin_secret)
        self.server = uvicorn.Server(front_config(front))
        listening = listening_socket(self.port)  # connections queue once the URL is printed
        print(f"DICOMweb root: {url}", flush=True)
        print(f"moto: http://127.0.0.1:{moto_port}  state: {self.state_dir}", flush=True)
        print(f"S3 gate (presigned URLs): {self.gate.url}", flush=True)
        print(f"restored objects: {restored}", flush=True)
        print(f"ready in {time.monotonic() - started:.2f} s", flush=True)
        print(f"STOW receiver: {'on' if receiver else 'off'}", flush=True)
        print(f"API key: {key}", flush=True)
        self.server.run(sockets=[listening])


def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    state_dir = Path(os.environ.get("STATE_DIR", ROOT / ".state")).resolve()
    stack = Stack(port, state_dir)

    def terminate(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        stack.run()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        (state_dir / "stack.json").unlink(missing_ok=True)  # the admin CLI's pointer
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
