"""What the repository holds for a target, as data and for people (`stackdeb repo status`)."""

from pathlib import Path

from builders.targets import get_target
from builders.repository.indexes import suite_index
from builders.repository.generations import Repository, targets_state, tested_state




def status_data(root: Path, release: str, suite_name: str, verdict: Path | None = None) -> dict:
    """What the repository holds for a target, as data (`repo status --json`): per package its
    staging and tested versions, the verdict that installed its tested one (`tested_by`: its
    sha256; `proven`: with its layout and when it was promoted) and, for a package waiting in
    staging, why (`waiting`, from the target's last cluster run, `verdict`)."""
    from builders.cluster.report import waiting_reasons
    target = get_target(release, suite_name)
    repo = Repository(root)
    live = repo.live_generation()
    staging, tested = target.repo_suites
    data = {"target": target.label, "staging_suite": staging, "tested_suite": tested, "live_generation": live,
            "kept": repo.generations(), "published": False, "other_targets": [], "packages": {}, "history": []}
    if live is None:
        return data
    base = repo.generation_dir(live)
    data["other_targets"] = sorted(set(targets_state(base)) - {target.name})
    if target.name not in targets_state(base):
        return data
    staged = suite_index(base, staging)
    promoted = suite_index(base, tested)
    tested_by = {name: entry.get("tested_by") for name, entry in
                 ((tested_state(base).get(target.name) or {}).get("packages") or {}).items()}
    history = repo.history()
    promotions = {(e.get("verdict") or {}).get("sha256"): e for e in history
                  if e.get("action") == "promote" and e.get("target") == target.name}
    data["published"] = True
    data["packages"] = {name: {"staging": staged.get(name), "tested": promoted.get(name),
                               "tested_by": tested_by.get(name) if promoted.get(name) else None}
                        for name in sorted(set(staged) | set(promoted))}
    for name, entry in data["packages"].items():
        event = promotions.get(entry["tested_by"]) if entry["tested_by"] else None
        entry["proven"] = {"verdict": entry["tested_by"], "layout": event["verdict"].get("layout"),
                           "promoted_at": event["at"]} if event else None
    for name, why in waiting_reasons(data["packages"], verdict).items():
        data["packages"][name]["waiting"] = why
    data["history"] = [e for e in history if e.get("target") == target.name or e.get("action") == "rotate-key"][-5:]
    return data


def status(root: Path, release: str, suite_name: str, verdict: Path | None = None) -> str:
    data = status_data(root, release, suite_name, verdict)
    live, others = data["live_generation"], data["other_targets"]
    if live is None:
        return "the repository is empty"
    if not data["published"]:
        return (f"live generation: {live}; nothing published for {data['target']}"
                f"{' (targets: ' + ', '.join(others) + ')' if others else ''}")
    lines = [f"target {data['target']}: {data['staging_suite']} and {data['tested_suite']}",
             f"live generation: {live} (kept: {', '.join(map(str, data['kept']))})"
             f"{'; other targets: ' + ', '.join(others) if others else ''}"]
    for name, entry in data["packages"].items():
        mark = "" if entry["staging"] == entry["tested"] else "   <- differs"
        proof = f"  (verdict {entry['tested_by'][:12]})" if entry["tested_by"] else ""
        lines.append(f"  {name:32} staging {entry['staging'] or '-':32} tested {entry['tested'] or '-'}{proof}{mark}")
        if entry.get("waiting"):
            lines.append(f"  {'':32} waiting: {entry['waiting']}")
    if data["history"]:
        lines.append("history (newest last):")
        lines += [f"  {e['at']} {e['action']}{' ' + e['step'] if e.get('step') else ''} -> generation "
                  f"{e.get('generation')} by {e.get('by')}" for e in data["history"]]
    return "\n".join(lines)
