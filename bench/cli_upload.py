"""The CLI's upload as a new user runs it, twice, on pydicom's own test files plus one that is
not DICOM, against a fresh local stack (``python -m bench.cli_upload``).

pydicom's files mix valid instances, truncated copies and files sharing SOP Instance UIDs,
data sets without a Part 10 header and unreadable ones: what a real folder holds. It prints the
summary line and the exit status of each run (the second must send nothing again).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from local.spawn import spawn_stack

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    from pydicom.data import get_testdata_files

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mixed"
        folder.mkdir()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            files = get_testdata_files("*.dcm")
        for name in files:
            shutil.copy(name, folder / Path(name).name)
        (folder / "garbage.dcm").write_bytes(b"not dicom at all" * 10)
        print(f"{len(files) + 1} files in {folder}")
        served = spawn_stack(Path(tmp) / "state", "bench-cli-" + "k" * 28, {})
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DICOMWEB_"))}
        env["HOME"] = str(Path(tmp) / "home")
        try:
            for run in (1, 2):
                started = time.monotonic()
                command = ["upload", str(folder), "--url", served.url, "--key", served.key]
                done = subprocess.run(
                    [sys.executable, "-m", "dicomweb_cli", *command],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=ROOT,
                    check=False,
                )
                took = time.monotonic() - started
                summary = [line for line in done.stdout.splitlines() if " files: " in line]
                print(f"run {run}: exit {done.returncode} in {took:.1f} s: {' '.join(summary)}")
        finally:
            served.stop()


if __name__ == "__main__":
    main()
