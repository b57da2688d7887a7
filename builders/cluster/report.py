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


def waiting_reasons(packages: dict[str, dict], verdict_path: Path | None) -> dict[str, str]:
    """Why each venv package whose staging version is not the tested one waits, as far as the
    target's last cluster run tells: it failed there (and where), or that run did not cover it
    (and why), or no run has tested it yet."""
    from builders.cluster.verdict import VENV_PREFIX, coverage, shape_problem
    from builders.manifest import sha256_file
    verdict = (read_json(verdict_path) or {}) if verdict_path and verdict_path.is_file() else {}
    if verdict and shape_problem(verdict):      # not one the cluster stage wrote: it tells nothing
        verdict = {}
    tested = {(p["name"], p["version"]) for p in (verdict.get("build_set") or {}).get("packages") or []}
    which = ""
    if verdict:
        which = (f"verdict {sha256_file(verdict_path)[:12]} (layout {(verdict.get('layout') or {}).get('name')}, "
                 f"{verdict.get('finished_at')})")
    _, not_covered = coverage(verdict) if verdict else ([], {})
    failure = verdict.get("failure") or {}
    failed = {t.get("service"): t.get("name") for t in verdict.get("tests") or [] if t.get("result") == "failed"}
    reasons = {}
    for name, entry in packages.items():
        if not name.startswith(VENV_PREFIX) or not entry.get("staging") or entry["staging"] == entry.get("tested"):
            continue
        service = name.removeprefix(VENV_PREFIX)
        if (name, entry["staging"]) not in tested:
            reasons[name] = "not tested yet: no cluster run of this version"
        elif verdict.get("result") != "pass" and failure.get("service") == service:
            reasons[name] = f"failed in {which}: {failure.get('phase')}: {failure.get('message')}"[:400]
        elif verdict.get("result") != "pass" and service in failed:
            reasons[name] = f"failed in {which}: test {failed[service]}"
        elif verdict.get("result") != "pass":
            reasons[name] = f"its run failed in {which} (in {failure.get('phase')}" \
                            f"{', at ' + failure['service'] if failure.get('service') else ''})"
        elif name in not_covered:
            reasons[name] = f"not covered by {which}: {not_covered[name]}"
        else:
            reasons[name] = f"covered by {which}, not promoted yet"
    return reasons
