"""The last verdict of a target, as data for whoever drives the stage (Buildbot's steps):
result, phases, counts, the failure, and the logs with their last lines."""

from pathlib import Path

from builders.errors import StackdebError
from builders.manifest import read_json
from builders.project import Project
from builders.targets import Target

LOG_TAIL_LINES = 300


def latest_verdict(project: Project, target: Target) -> Path:
    path = project.target_dir("cluster", target) / "latest" / "verdict.json"
    if not path.is_file():
        raise StackdebError(f"no cluster run for {target.label} yet",
                            hint=f"stackdeb cluster --release {target.release} --suite {target.suite.codename}")
    return path


def report(verdict_path: Path, with_logs: bool) -> dict:
    verdict = read_json(verdict_path) or {}
    tests = verdict.get("tests", [])
    summary = {
        "verdict": str(verdict_path.resolve()), "result": verdict.get("result"),
        "generation": (verdict.get("build_set") or {}).get("generation"),
        "layout": (verdict.get("layout") or {}).get("name"),
        "phases": verdict.get("phases", []), "tempest": verdict.get("tempest", {}),
        "tests": {k: sum(1 for t in tests if t["result"] == k) for k in ("passed", "failed", "skipped")},
        "failure": verdict.get("failure"), "logs": {},
    }
    for name, path in (verdict.get("logs") or {}).items():
        file = Path(path)
        if with_logs and file.is_file():
            lines = file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            summary["logs"][name] = {"path": path, "tail": "\n".join(lines)}
        else:
            summary["logs"][name] = {"path": path}
    return summary
