"""What ``bench/runner.py`` measured, as a summary (JSON), a markdown table and a PNG plot.
Ratios are the first server over the second (ours / Orthanc): below 1 is faster for a latency,
above 1 is faster for a throughput."""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from bench.samples import Samples, percentile


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def latency(s: Samples) -> dict[str, Any]:
    """p50/p95/max of the successful requests, or n/a with the commonest error."""
    if not s.ms:
        reason = Counter(s.errors).most_common(1)[0][0] if s.errors else "no requests"
        return {"na": reason, "errors": len(s.errors)}
    return {
        "n": len(s.ms),
        "p50_ms": round(percentile(s.ms, 50), 1),
        "p95_ms": round(percentile(s.ms, 95), 1),
        "max_ms": round(max(s.ms), 1),
        "first_ms": round(s.ms[0], 1),
        "errors": len(s.errors),
        "error_samples": sorted(set(s.errors))[:3],
        "size_median": statistics.median(s.sizes) if s.sizes else None,
        "requests_per_s": round(len(s.ms) / s.wall_s, 1) if s.wall_s else None,
    }


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    names: list[str] = results["servers"]
    a, b = [*names, ""][:2]
    stow: dict[str, Samples] = results["stow"]
    throughput = {
        n: {
            "instances_per_s": round(s.instances / s.wall_s, 1) if s.wall_s else None,
            "mb_per_s": round(s.bytes_sent / 1e6 / s.wall_s, 1) if s.wall_s else None,
            "batches": len(s.ms),
            "batch_p50_ms": round(percentile(s.ms, 50), 1) if s.ms else None,
            "errors": len(s.errors),
            "error_samples": sorted(set(s.errors))[:3],
            "indexed_after_s": round(results["indexed_after_s"][n], 1),
        }
        for n, s in stow.items()
    }
    lag = results["visibility"]
    lat: list[dict[str, Any]] = [
        {"scenario": "STOW -> QIDO visibility lag", **{n: latency(lag[n]) for n in names}}
    ]
    lat += [
        {"scenario": name, **{n: latency(per[n]) for n in names}}
        for name, per in results["reads"].items()
    ]
    for row in lat:
        for p in ("p50_ms", "p95_ms"):
            row[f"ratio_{p[:3]}"] = _ratio(row[a].get(p), row.get(b, {}).get(p))
    clients = [
        {
            "scenario": name,
            **{n: latency(per[n]) for n in names},
        }
        for name, per in results.get("throughput", {}).items()
    ]
    for row in clients:
        row["ratio_requests_per_s"] = _ratio(
            row[a].get("requests_per_s"), row.get(b, {}).get("requests_per_s")
        )
    return {
        "servers": names,
        "about": results.get("about", {}),
        "corpus": results["corpus"],
        "concurrency": results["concurrency"],
        "run_s": round(results["elapsed_s"], 1),
        "load_before": results.get("load_before"),
        "load_after": results.get("load_after"),
        "total_s": round(results.get("total_s", results["elapsed_s"]), 1),
        "stow": throughput,
        "stow_ratio": {
            k: _ratio(throughput[a][k], throughput.get(b, {}).get(k))
            for k in ("instances_per_s", "mb_per_s")
        },
        "latency": lat,
        "emulator_ms": results.get("emulator_ms") or {},
        "health_ms": results.get("health_ms"),
        "throughput_clients": results.get("throughput_clients", 1),
        "throughput": clients,
    }


def _cell(entry: dict[str, Any], key: str) -> str:
    if "na" in entry:
        return f"n/a ({entry['na']})"
    value = f"{entry[key]:.0f}" if entry[key] >= 10 else f"{entry[key]:.1f}"
    return value + (f" ({entry['errors']} err)" if entry.get("errors") else "")


def _size(entry: dict[str, Any], scenario: str) -> str:
    size = entry.get("size_median")
    if size is None:
        return "-"
    if scenario.startswith("QIDO") or "metadata" in scenario or "lag" in scenario:
        return f"{size:.0f}"
    return f"{size / 1000:.0f} kB"


def markdown(summary: dict[str, Any]) -> str:
    names = summary["servers"]
    a, b = [*names, ""][:2]
    two = len(names) == 2
    lines = [
        "| STOW-RS (multipart batches <= 4.4 MB) | "
        + " | ".join(names)
        + (" | ratio |" if two else " |"),
        "|---|" + "---|" * (len(names) + two),
    ]
    for key, label in (
        ("instances_per_s", "instances/s"),
        ("mb_per_s", "MB/s"),
        ("batch_p50_ms", "batch p50 ms"),
        ("indexed_after_s", "all searchable, s after the last STOW"),
        ("errors", "failed batches"),
    ):
        cells = [str(summary["stow"][n][key]) for n in names]
        ratio = summary["stow_ratio"].get(key) if two else None
        lines.append(
            f"| {label} | " + " | ".join(cells) + (f" | {ratio or '-'} |" if two else " |")
        )
    lines += [
        "",
        "| scenario (ms) | "
        + " | ".join(f"{n} p50 | {n} p95" for n in names)
        + (" | ratio p50 | ratio p95" if two else "")
        + " | size ("
        + " / ".join(names)
        + ") |",
        "|---|" + "---|" * (2 * len(names) + 2 * two + 1),
    ]
    for row in summary["latency"]:
        cells = [f"{_cell(row[n], 'p50_ms')} | {_cell(row[n], 'p95_ms')}" for n in names]
        ratios = f" | {row['ratio_p50'] or 'n/a'} | {row['ratio_p95'] or 'n/a'}" if two else ""
        size = " / ".join(_size(row[n], row["scenario"]) for n in names)
        lines.append(f"| {row['scenario']} | " + " | ".join(cells) + ratios + f" | {size} |")
    if summary.get("throughput"):
        clients = summary["throughput_clients"]
        lines += [
            "",
            f"| {clients} clients at once (requests/s) | "
            + " | ".join(names)
            + (" | ratio |" if two else " |")
            + " p50 ms ("
            + " / ".join(names)
            + ") |",
            "|---|" + "---|" * (len(names) + two + 1),
        ]
        for row in summary["throughput"]:
            cells = [
                str(row[n].get("requests_per_s")) if "na" not in row[n] else _cell(row[n], "")
                for n in names
            ]
            ratio = f" | {row['ratio_requests_per_s'] or 'n/a'}" if two else ""
            p50 = " / ".join(_cell(row[n], "p50_ms") if "na" not in row[n] else "-" for n in names)
            lines.append(f"| {row['scenario']} | " + " | ".join(cells) + ratio + f" | {p50} |")
    if two:
        lines += [
            "",
            f"ratio = {a} / {b}: below 1 {a} is faster (latency), above 1 {a} is "
            "faster (throughput). size: JSON results (QIDO, metadata) or body bytes.",
        ]
    return "\n".join(lines) + "\n"


def behind(summary: dict[str, Any]) -> list[str]:
    """The scenarios where the first server is behind the second: a p50 ratio above 1, a
    throughput ratio below 1."""
    found = [
        f"{row['scenario']} (p50 x{row['ratio_p50']})"
        for row in summary["latency"]
        if row.get("ratio_p50") is not None and row["ratio_p50"] > 1
    ]
    found += [
        f"STOW {label} (x{summary['stow_ratio'][key]})"
        for key, label in (("instances_per_s", "instances/s"),)
        if summary["stow_ratio"].get(key) is not None and summary["stow_ratio"][key] < 1
    ]
    found += [
        f"{row['scenario']}, {summary['throughput_clients']} clients "
        f"(requests/s x{row['ratio_requests_per_s']})"
        for row in summary.get("throughput", [])
        if row.get("ratio_requests_per_s") is not None and row["ratio_requests_per_s"] < 1
    ]
    return found


def floors(summary: dict[str, Any]) -> str:
    """The floor under this service's figures, measured in the same run: one AWS call to moto
    in-process, and a request that makes none."""
    costs = summary.get("emulator_ms") or {}
    if not costs:
        return ""
    lines = [
        "",
        "| the floor, measured in this run (median ms) | ms |",
        "|---|---|",
    ]
    lines += [f"| one call, botocore to moto in-process: {k} | {v} |" for k, v in costs.items()]
    if summary.get("health_ms") is not None:
        lines.append(
            f"| GET /health through the local front and gateway (no AWS call, new connection) "
            f"| {summary['health_ms']} |"
        )
    return "\n".join(lines) + "\n"


def closing(summary: dict[str, Any]) -> str:
    """The note under the tables: what is still behind (from this run's figures) and where
    what bounds it is measured."""
    names = summary["servers"]
    if len(names) != 2:
        return ""
    late = behind(summary)
    if not late:
        return f"\n**Still behind.** Nothing: {names[0]} is at or ahead of {names[1]} everywhere.\n"
    return (
        f"\n**Still behind {names[1]}** in this run: "
        + "; ".join(late)
        + ". What bounds each (profiles of the local stack, moto's own cost per call, the GIL) "
        "is measured in [README.md](README.md#what-bounds-the-local-stack).\n"
    )


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib  # bench-only: requirements-bench.txt

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = summary["servers"]
    rows = summary["latency"]
    several = summary.get("throughput") or []
    fig, axes = plt.subplots(
        1,
        3 if several else 2,
        figsize=(16 if several else 13, 7),
        gridspec_kw={"width_ratios": [3, 1, 1.3] if several else [3, 1]},
        layout="constrained",
    )
    left, right = axes[0], axes[1]
    height = 0.8 / len(names)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c"]
    for k, n in enumerate(names):
        ys = [i + k * height for i in range(len(rows))]
        p50 = [r[n].get("p50_ms", 0) for r in rows]
        p95 = [r[n].get("p95_ms", 0) for r in rows]
        left.barh(ys, p50, height, label=f"{n} p50", color=colours[k % 3])
        left.scatter(
            p95, ys, marker="|", s=120, color="black", zorder=3, label="p95" if k == 0 else None
        )
        for y, r in zip(ys, rows, strict=True):
            if "na" in r[n]:
                reason = r[n]["na"]
                left.text(
                    0.01,
                    y,
                    f"{n}: n/a ({reason})",
                    va="center",
                    fontsize=7,
                    transform=left.get_yaxis_transform(),
                )
    left.set_yticks([i + height * (len(names) - 1) / 2 for i in range(len(rows))])
    left.set_yticklabels([r["scenario"] for r in rows], fontsize=8)
    left.invert_yaxis()
    left.set_xscale("log")
    left.set_xlabel("ms per request (log scale; bar p50, tick p95)")
    left.legend(loc="lower right", fontsize=8)
    left.grid(axis="x", which="both", alpha=0.3)
    metrics = [("instances_per_s", "STOW instances/s"), ("mb_per_s", "STOW MB/s")]
    for k, n in enumerate(names):
        xs = [i + k * height for i in range(len(metrics))]
        right.bar(
            xs,
            [summary["stow"][n][m] or 0 for m, _ in metrics],
            height,
            label=n,
            color=colours[k % 3],
        )
    right.set_xticks([i + height * (len(names) - 1) / 2 for i in range(len(metrics))])
    right.set_xticklabels([label for _, label in metrics], fontsize=8)
    right.set_title("STOW-RS throughput (higher is better)", fontsize=9)
    right.legend(fontsize=8)
    if several:
        third = axes[2]
        for k, n in enumerate(names):
            xs = [i + k * height for i in range(len(several))]
            rates = [r[n].get("requests_per_s") or 0 for r in several]
            third.bar(xs, rates, height, label=n, color=colours[k % 3])
        third.set_xticks([i + height * (len(names) - 1) / 2 for i in range(len(several))])
        third.set_xticklabels(
            [r["scenario"].replace(" (", "\n(") for r in several], fontsize=7, rotation=30
        )
        third.set_title(
            f"{summary['throughput_clients']} clients at once, requests/s (higher is better)",
            fontsize=9,
        )
        third.legend(fontsize=8)
    fig.suptitle(
        " vs ".join(names) + f": {summary['corpus']['instances']} instances, "
        f"concurrency {summary['concurrency']}, same client, alternating rounds"
    )
    fig.savefig(path, dpi=100)
    plt.close(fig)


def header(summary: dict[str, Any]) -> str:
    """How the figures were made, from the summary itself."""
    about = summary["about"].get("orthanc", {})
    corpus = summary["corpus"]
    kinds = ", ".join(f"{n} {k}" for k, n in corpus["kinds"].items())
    return f"""# Side by side with Orthanc (`make bench`)

Generated by `make bench` (`python -m bench.runner --local-stack --orthanc --out
docs/benchmarks`) on {date.today().isoformat()}, {os.cpu_count()} cores, whole run
{summary["total_s"]:.0f} s (the measured part {summary["run_s"]:.0f} s). Do not edit: re-run it.

- **ours**: this service's local stack (`python -m local.stack`, what `make serve` runs: the
  local front on uvicorn, the local API Gateway, the Chalice app and the streaming STOW receiver
  in one process with moto in-process; the indexer polling SQS in its own process, through
  moto's server thread), API key in `apikey`.
- **Orthanc** {about.get("version", "?")} with its DICOMweb plugin {
        about.get("dicomweb_plugin", "?")
    } (Debian packages), loopback port, own storage folder, generated configuration
  (`bench/servers.py`): basic auth, HTTP compression off (its default gzips pixel data too),
  otherwise defaults (SQLite index, files on disk).
- **Corpus** (`bench.datasets.corpus`, seeded): {corpus["instances"]} instances,
  {corpus["bytes"] / 1e6:.0f} MB: {kinds}. 512x512 16-bit images, a 100-frame 128x128 instance.
- **Method**: one client (`bench/runner.py`) sends the same requests to both, concurrency
  {summary["concurrency"]}, then {summary.get("throughput_clients", 1)} client threads at once
  for QIDO and WADO (requests/s); the servers take turns batch by batch, the order flipping each
  round. Read scenarios open a new connection per request; STOW and the visibility poll keep
  theirs. p50/p95 over every request (first reads included). Load on the machine when the run
  started (1-minute load average): {summary.get("load_before", "?")}; when it ended:
  {summary.get("load_after", "?")}.

![p50 and p95 per scenario, STOW throughput](orthanc.png)

**Read with care.** "ours" is the local emulation, not AWS: every request crosses the local
API Gateway (a base64 Lambda event), runs the Chalice app in Python and makes its S3 and
DynamoDB calls through botocore to moto in the same process (Python too: ~1 ms a GetItem,
~2 ms a 0.5 MB GetObject, ~6 ms a 0.5 MB PutObject on an idle core, see
[README.md](README.md#what-bounds-the-local-stack)); a STOW indexes the instances it stores
and waits until the indexes show them before it answers, where Orthanc indexes inside the
STOW. Orthanc is native C++ on SQLite and local files, with a thread per connection; the local
stack's Python shares one interpreter lock across its threads. The figures show where this code
spends time relative to a mature server on one machine, not what Lambda, S3 and DynamoDB would
answer.
Orthanc's Debian build has no JPEG 2000 decoder (that is the GDCM plugin, package
`orthanc-gdcm`, not installed here): rendering a JPEG 2000 frame answers 400 and the table
says n/a. Rendered JPEG sizes differ because the encoders' quality settings differ. Study
metadata p95 includes each study's first read, which builds this service's cached documents.

"""


def write(summary: dict[str, Any], out: Path) -> None:
    """orthanc.json, orthanc.md and orthanc.png under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "orthanc.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = header(summary) + markdown(summary) + floors(summary) + closing(summary)
    (out / "orthanc.md").write_text(text)
    plot(summary, out / "orthanc.png")
