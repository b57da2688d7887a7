"""The last verdict of a target, as data for whoever drives the stage (Buildbot's steps):
result, phases, counts, the failure, and where the logs are. The logs stay files: a reader
shows them as logs (Buildbot tails each into a log of the step), never inside the result."""

from pathlib import Path

from builders.errors import StackdebError
from builders.manifest import read_json
from builders.project import Project
from builders.targets import Target


def latest_verdict(project: Project, target: Target) -> Path:
    path = project.target_dir("cluster", target) / "latest" / "verdict.json"
    if not path.is_file():
        raise StackdebError(f"no cluster run for {target.label} yet",
                            hint=f"stackdeb cluster --release {target.release} --suite {target.suite.codename}")
    return path


def report(verdict_path: Path) -> dict:
    verdict = read_json(verdict_path) or {}
    tests = verdict.get("tests", [])
    return {
        "verdict": str(verdict_path.resolve()), "result": verdict.get("result"),
        "generation": (verdict.get("build_set") or {}).get("generation"),
        "layout": (verdict.get("layout") or {}).get("name"),
        "phases": verdict.get("phases", []), "tempest": verdict.get("tempest", {}),
        "tests": {k: sum(1 for t in tests if t["result"] == k) for k in ("passed", "failed", "skipped")},
        "failure": verdict.get("failure"),
        "logs": {name: {"path": path} for name, path in sorted((verdict.get("logs") or {}).items())},
    }


def describe(summary: dict) -> str:
    """The report for people: what ran, how each phase went, what failed, where the logs are."""
    counts, failure = summary["tests"], summary["failure"]
    lines = [f"{summary['result']}: layout {summary['layout']}, generation {summary['generation']}",
             f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
             f"(tempest {summary['tempest'].get('passed', 0)} passed)"]
    lines += [f"  {p['name']:<10} {p['result']:<8} {p['seconds']:7.0f}s" for p in summary["phases"]]
    if failure:
        lines.append(f"failure in {failure['phase']}: {failure['message']}")
    lines += [f"log {name}: {entry['path']}" for name, entry in summary["logs"].items()]
    lines.append(f"verdict: {summary['verdict']}")
    return "\n".join(lines)
