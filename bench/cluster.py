"""The test cluster: time from publish to verdict for a layout, per phase, and each VM's memory.

    sudo .venv/bin/python bench/cluster.py [--layout minimal] [--release R --suite S] [--last]

Uses the machine's own build directory (packages built, images built, as bootstrap.sh and the
pipeline leave them). It publishes what is built (a no-op when it is already live), then runs
`stackdeb cluster` and reads its verdict. The reference measured in the same invocation is
the provisioning floor: booting the discovery system and reporting (phases boot + report),
what any run pays before it installs anything.
"""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

STACKDEB = [sys.executable, "-m", "builders.cli"]
ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*STACKDEB, *args], cwd=ROOT, capture_output=True, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", default="minimal")
    parser.add_argument("--release", help="the target (default: the project's default target)")
    parser.add_argument("--suite")
    parser.add_argument("--last", action="store_true", help="run nothing: the figures of the last run")
    args = parser.parse_args()
    target = [*(["--release", args.release] if args.release else []), *(["--suite", args.suite] if args.suite else [])]
    started = time.monotonic()
    if not args.last:
        published = run("publish", *target)
        if published.returncode:
            sys.exit(f"stackdeb publish failed:\n{published.stderr[-2000:]}")
        print(f"{'publish':12} {time.monotonic() - started:8.1f} s")
        run("cluster", "--layout", args.layout, *target)
    report = json.loads(run("cluster", "--report", "--json", *target).stdout)
    verdict = json.loads(Path(report["verdict"]).read_text())
    total = (time.monotonic() - started if not args.last else
             sum(p["seconds"] for p in verdict["phases"]))
    print(f"layout {verdict['layout']['name']}: verdict {verdict['result']}, "
          f"build set generation {verdict['build_set']['generation']}, {verdict['started_at']}")
    for phase in verdict["phases"]:
        print(f"{phase['name']:12} {phase['seconds']:8.1f} s  {phase['result']}")
    print(f"{'publish->verdict' if not args.last else 'phases':12} {total:8.1f} s")
    floor = sum(p["seconds"] for p in verdict["phases"] if p["name"] in ("boot", "report"))
    if floor:
        print(f"reference (boot + report, the provisioning floor): {floor:.1f} s; whole run {total / floor:.1f}x")
    for machine in verdict["machines"]:
        memory = machine.get("memory") or {}
        print(f"{machine['name']} {machine['role']:10} {machine['cpus']} vCPU, {machine['memory_mb']} MiB given, "
              f"{memory.get('used_mb', '?')} MiB used after configure")
    serials = {m["serial"]: m["name"] for m in verdict["machines"]}
    for task in verdict.get("tasks", []):
        print(f"  task {serials.get(task['machine'], task['machine'])} {task['task']:22} "
              f"{task['seconds']:7.1f} s (queued {task['queued']:.1f} s)")
    requests = Path(verdict["logs"].get("tempest-requests", "/nonexistent"))
    if requests.exists():
        print("tempest requests, seconds by where they were made: " + ", ".join(
            f"{where} {seconds:.0f} s" for where, seconds in tempest_request_time(requests.read_text()).items()))
    counts = report["tests"]
    print(f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped; "
          f"tempest {verdict['tempest']}")
    print(f"accelerator: {verdict.get('accelerator') or 'tcg (before verdicts recorded it)'}")


def tempest_request_time(text: str) -> dict[str, float]:
    """Tempest's logged API calls (`Request (Class:where): 200 GET url 0.512s`), summed into
    class fixtures (credentials made and removed per class) and the tests themselves."""
    totals = {"class fixtures": 0.0, "tests": 0.0}
    for match in re.finditer(r"Request \([^:)]*:([^)]*)\): \d+ \S+ \S+ ([0-9.]+)s", text):
        where = "class fixtures" if match.group(1) in ("setUpClass", "tearDownClass") else "tests"
        totals[where] += float(match.group(2))
    return totals


if __name__ == "__main__":
    main()
