"""The admin CLI against the local stack, with no flag: tenants and keys created, listed and
revoked; keys survive a restart."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests

from local.spawn import spawn_stack
from tests.e2e.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


def cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"DICOMWEB_STACK_FILE": str(state / "stack.json")})


def test_tenants_and_keys(tmp_path: Path):
    state = tmp_path / "state"
    served = spawn_stack(state, "cli-demo-key", {"API_KEY_CACHE_TTL": "1"})
    try:
        assert cli(state, "tenants", "create", "hospital-a", "--name", "Hospital A").returncode == 0
        assert "hospital-a\tHospital A" in cli(state, "tenants", "list").stdout
        made = cli(state, "keys", "create", "hospital-a", "--scopes", "read", "--name", "viewer")
        assert made.returncode == 0, made.stderr
        viewer = made.stdout.strip().splitlines()[-1]  # the key alone on the last line
        writer = cli(
            state, "keys", "create", "hospital-a", "--scopes", "read,write", "--expires", "30d"
        )
        writer_key = writer.stdout.strip().splitlines()[-1]
        assert cli(state, "keys", "create", "nobody", "--scopes", "read").returncode != 0
        assert cli(state, "keys", "create", "hospital-a", "--scopes", "admin").returncode != 0
        url = served.url + "/studies"
        assert requests.get(url, headers={"apikey": viewer}).status_code == 200
        assert (
            requests.post(
                url, data=b"x", headers={"apikey": viewer, "Content-Type": "application/dicom"}
            ).status_code
            == 403
        )
        assert (
            requests.post(
                url, data=b"x", headers={"apikey": writer_key, "Content-Type": "application/dicom"}
            ).status_code
            == 409
        )
        listed = cli(state, "keys", "list", "hospital-a").stdout
        assert "viewer\tread\tactive" in listed and "never" in listed and viewer not in listed
        key_id = listed.split("\t")[0]
        assert cli(state, "keys", "revoke", key_id).returncode == 0
        time.sleep(1.5)  # the key cache's TTL
        assert requests.get(url, headers={"apikey": viewer}).status_code == 401
        assert "revoked" in cli(state, "keys", "list", "hospital-a").stdout
    finally:
        assert served.stop() == 0
    again = spawn_stack(state, "cli-demo-key")
    try:
        assert (
            requests.get(again.url + "/studies", headers={"apikey": writer_key}).status_code == 200
        )
        assert requests.get(again.url + "/studies", headers={"apikey": viewer}).status_code == 401
    finally:
        again.stop()
