"""`stackdeb gc` on a real repository and build directory: old cluster runs and the proofs of
packages nothing holds any more go, with what they took; what is published or built stays."""

import json
import os
import subprocess
import sys

from builders.repository.publish import publish_build_set
from helpers import make_deb

VERSION = "1.0.0-1+os2026.1.deb12.1"


def proof(build, sha256: str, package: str, version_: str) -> None:
    (build / "proofs").mkdir(parents=True, exist_ok=True)
    (build / "proofs" / f"{sha256}.json").write_text(json.dumps({"package": package, "version": version_,
                                                                 "sha256": sha256}))
    (build / "proofs" / f"{sha256}.lintian.txt").write_text("N: a report\n" * 100)


def test_gc_removes_old_runs_and_stale_proofs_and_keeps_what_is_needed(tmp_path, monkeypatch):
    monkeypatch.delenv("STACKDEB_SIGNING_HOME", raising=False)
    build, repo = tmp_path / "build", tmp_path / "repo"
    publish_build_set(repo, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", VERSION)])
    proof(build, "a" * 64, "venv-alpha", VERSION)             # published: kept
    proof(build, "b" * 64, "venv-alpha", "1.0.0-1+os2026.1.deb12.0")     # nothing holds it: removed
    proof(build, "c" * 64, "venv-beta", "2.0-1")              # built, not yet published: kept
    (build / "packages/2026.1-bookworm/beta").mkdir(parents=True)
    (build / "packages/2026.1-bookworm/beta/manifest.json").write_text(
        json.dumps({"package": "venv-beta", "version": "2.0-1"}))
    (build / "proofs" / f"{'d' * 64}.json").write_text("not json")   # unreadable: never guessed at
    runs = build / "cluster/2026.1-bookworm"
    names = [f"2026120{day}T120000Z-{100 + day}" for day in range(1, 6)]
    for name in names:
        (runs / name / "logs").mkdir(parents=True)
        (runs / name / "logs/tempest.log").write_text("x" * 10000)
    os.symlink(names[0], runs / "latest")                      # the oldest is the latest: kept
    env = {**os.environ, "STACKDEB_BUILD_DIR": str(build), "STACKDEB_REPO_DIR": str(repo)}

    def gc(*args):
        done = subprocess.run([sys.executable, "-m", "builders.cli", "gc", "--keep-runs", "2", "--json", *args],
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    planned = gc("--dry-run")
    assert sorted(os.path.basename(p) for p in planned["removed"]["cluster_runs"]) == names[1:3]
    assert sorted(os.path.basename(p) for p in planned["removed"]["proofs"]) == [
        f"{'b' * 64}.json", f"{'b' * 64}.lintian.txt"]
    assert all(os.path.exists(p) for kind in planned["removed"].values() for p in kind)
    done = gc()
    assert done["removed"] == planned["removed"] and done["freed_bytes"] >= 2 * 10000 + 1200
    assert sorted(p.name for p in runs.iterdir()) == sorted([names[0], *names[3:], "latest"])
    assert sorted(p.name[:1] for p in (build / "proofs").glob("*.json")) == ["a", "c", "d"]
    assert gc()["removed"] == {"cluster_runs": [], "proofs": []}
    subprocess.run(["gpgconf", "--homedir", str(repo / "gnupg"), "--kill", "all"], capture_output=True)
