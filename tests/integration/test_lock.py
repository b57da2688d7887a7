"""stackdeb lock with the real resolvers against the fake index (offline, seconds)."""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from builders.lockfile import parse_lock
from helpers import deliverable, fill, snapshot


def lock(stackdeb, mini, *extra):
    return stackdeb("lock", "--release", "2026.1", "--suite", "bookworm",
                    "--index-url", mini.index.url, *extra)


def pins_of(path):
    return {p.line: sorted(p.hashes) for p in parse_lock(path.read_text()).values()}


def test_lock_pins_every_service_with_hashes_and_closures(stackdeb, mini_project):
    code, err = lock(stackdeb, mini_project)
    assert code == 0, err
    pins = parse_lock((mini_project.lock_dir / "lock.txt").read_text())
    assert {p.line for p in pins.values()} == {
        "alpha-svc==1.0.0", "beta-svc==2.0.0", "libone==1.0.0", "libtwo==0.5.0", "libthree==3.0.0",
        f"uv=={mini_project.index.uv_version}"}
    assert all(p.hashes for p in pins.values())
    closures = json.loads((mini_project.lock_dir / "closures.json").read_text())
    assert closures == {
        "alpha": ["alpha-svc==1.0.0", "libone==1.0.0", "libthree==3.0.0"],
        "beta": ["beta-svc==2.0.0", "libone==1.0.0", "libtwo==0.5.0"],
    }
    manifest = json.loads((mini_project.lock_dir / "manifest.json").read_text())
    assert manifest["generation"] == 1 and manifest["services"] == {"alpha": "1.0.0", "beta": "2.0.0"}


def test_uv_and_pip_tools_give_the_same_pins_and_hashes(stackdeb, mini_project, tmp_path):
    assert lock(stackdeb, mini_project)[0] == 0
    by_uv = pins_of(mini_project.lock_dir / "lock.txt")
    code, err = lock(stackdeb, mini_project, "--resolver", "pip-tools")
    assert code == 0, err
    assert pins_of(mini_project.lock_dir / "lock.txt") == by_uv
    assert "resolved with pip-tools" in (mini_project.lock_dir / "lock.txt").read_text()


def test_a_second_run_with_the_same_inputs_does_nothing(stackdeb, mini_project):
    assert lock(stackdeb, mini_project)[0] == 0
    before = snapshot(mini_project.lock_dir)
    code, err = lock(stackdeb, mini_project)
    assert code == 0 and "up to date (inputs unchanged): nothing to do" in err
    assert snapshot(mini_project.lock_dir) == before


def test_an_override_changes_the_lock_and_reports_touched_services(stackdeb, mini_project):
    assert lock(stackdeb, mini_project)[0] == 0
    (mini_project.root / "requirements-bundles/2026.1/overrides.yaml").write_text(
        "constraints:\n  - replace: libone\n    with: libone===1.1.0\n    reason: needs the 1.1 fix\n")
    code, err = lock(stackdeb, mini_project)
    assert code == 0, err
    assert "override: replace libone -> libone===1.1.0: needs the 1.1 fix" in err
    assert "services touched: alpha, beta" in err
    text = (mini_project.lock_dir / "lock.txt").read_text()
    assert "libone==1.1.0" in text and "# override: replace libone" in text
    assert json.loads((mini_project.lock_dir / "manifest.json").read_text())["generation"] == 2


def test_a_constraint_conflict_fails_and_keeps_the_previous_lock(stackdeb, mini_project):
    assert lock(stackdeb, mini_project)[0] == 0
    before = snapshot(mini_project.lock_dir)
    (mini_project.root / "packaging/services.yaml").write_text(
        (mini_project.root / "packaging/services.yaml").read_text().replace(
            "extra_requirements: [libthree]", "extra_requirements: [libthree, 'libone>=1.1']"))
    code, err = lock(stackdeb, mini_project)
    assert code == 1
    assert "uv failed" in err and "the lock for 2026.1/bookworm" in err and "libone" in err
    assert "constraint conflict" in err
    assert snapshot(mini_project.lock_dir) == before


def test_a_broken_upper_constraints_line_is_named(stackdeb, mini_project):
    (mini_project.requirements / "2026.1/upper-constraints.txt").write_text("libone===1.0.0\nlibtwo=>0.5\n")
    code, err = lock(stackdeb, mini_project)
    assert code == 1
    assert "upper-constraints.txt (stable/2026.1@0123abcd) line 2: malformed requirement line 'libtwo=>0.5'" in err
    assert not mini_project.lock_dir.exists()


def test_an_unknown_release_fails_cleanly(stackdeb, mini_project):
    code, err = stackdeb("lock", "--release", "2030.1", "--index-url", mini_project.index.url)
    assert code == 1 and "unknown release '2030.1'" in err
    assert len(err.strip().splitlines()) == 2   # the message and its hint


def test_a_malformed_catalog_entry_fails_before_resolving(stackdeb, mini_project):
    catalog = mini_project.root / "packaging/services.yaml"
    catalog.write_text(catalog.read_text().replace("port: 5000", "port: http"))
    code, err = stackdeb("-v", "lock", "--release", "2026.1", "--suite", "bookworm", "--index-url",
                         mini_project.index.url)      # verbose: every command run is shown
    assert code == 1 and "service 'alpha', field 'wsgi_apps'" in err
    assert "stackdeb: $ " not in err


def test_an_unknown_service_in_the_overrides_is_refused(stackdeb, mini_project):
    (mini_project.root / "requirements-bundles/2026.1").mkdir(parents=True)
    (mini_project.root / "requirements-bundles/2026.1/overrides.yaml").write_text(
        "services:\n  gamma: {version: 1.0.0, reason: r}\n")
    code, err = lock(stackdeb, mini_project)
    assert code == 1 and "unknown service 'gamma'" in err


def test_a_service_never_goes_back_without_an_override(stackdeb, mini_project):
    mini_project.index.add_wheel("alpha-svc", "0.9.0", requires=["libone"],
                                 console_scripts={"alpha-manage": "alpha_svc:main"},
                                 modules={"alpha_svc/wsgi/__init__.py": "", "alpha_svc/wsgi/api.py": "application = None\n"})
    assert lock(stackdeb, mini_project)[0] == 0
    before = snapshot(mini_project.lock_dir)
    # upstream's file lost its newest release: the newest left is older than what is locked
    (mini_project.releases / "deliverables/gazpacho/alpha.yaml").write_text(deliverable("0.9.0"))
    code, err = lock(stackdeb, mini_project)
    assert code != 0 and "alpha would go back from 1.0.0 to 0.9.0 in the lock for 2026.1/bookworm" in err
    assert "Traceback" not in err and snapshot(mini_project.lock_dir) == before
    (mini_project.root / "requirements-bundles/2026.1/overrides.yaml").write_text(
        "services:\n  alpha: {version: 0.9.0, reason: 1.0.0 was withdrawn upstream}\n")
    code, err = lock(stackdeb, mini_project)
    assert code == 0, err
    manifest = json.loads((mini_project.lock_dir / "manifest.json").read_text())
    assert manifest["services"]["alpha"] == "0.9.0"
    assert manifest["sources"] == {"releases": "snapshot", "requirements": "stable/2026.1@0123abcd"}


def test_a_release_whose_python_range_excludes_the_suite_is_named_not_the_resolver_failure(stackdeb, mini_project):
    """alpha 1.1.0 supports Python 3.12 and later: 2026.1 cannot be built for bookworm (3.11),
    and the lock says which service and why; trixie (3.13) is fine."""
    mini_project.index.add_wheel("alpha-svc", "1.1.0", requires=["libone"], requires_python=">=3.12",
                                 console_scripts={"alpha-manage": "alpha_svc:main"},
                                 modules={"alpha_svc/wsgi/__init__.py": "", "alpha_svc/wsgi/api.py": "application = None\n"})
    (mini_project.releases / "deliverables/gazpacho/alpha.yaml").write_text(deliverable("1.0.0", "1.1.0"))
    before = snapshot(mini_project.lock_dir.parent)
    code, err = lock(stackdeb, mini_project)
    assert code == 1 and err.count("stackdeb: error: ") == 1 and "Traceback" not in err, err
    assert ("2026.1 cannot be built for bookworm: alpha-svc 1.1.0 (alpha) supports Python >=3.12, "
            "and bookworm has Python 3.11") in err, err
    assert snapshot(mini_project.lock_dir.parent) == before
    code, err = stackdeb("lock", "--suite", "trixie", "--index-url", mini_project.index.url)
    assert code == 0, err


def test_two_locks_at_once_never_share_a_generation_nor_go_back(stackdeb, mini_project, tmp_path):
    """A poller's lock on new upstream (beta 2.1.0) and a forced one on other constraints, both
    resolved before either writes: the test holds the writers' lock until both wait for it.
    Whichever writes second decides from what the first wrote, not from what it read at start."""
    assert lock(stackdeb, mini_project)[0] == 0                     # generation 1, beta 2.0.0
    mini_project.index.add_wheel("beta-svc", "2.1.0", requires=["libone>=1.0", "libtwo"])
    newer = tmp_path / "releases-newer"
    shutil.copytree(mini_project.releases, newer)
    (newer / "deliverables/gazpacho/beta.yaml").write_text(deliverable("2.0.0", "2.1.0"))
    bumped = tmp_path / "requirements-bumped"
    shutil.copytree(mini_project.requirements, bumped)
    (bumped / "2026.1/upper-constraints.txt").write_text("libone===1.1.0\nlibtwo===0.5.0\n")
    runs = {"new upstream": {"STACKDEB_RELEASES": str(newer)}, "forced": {"STACKDEB_REQUIREMENTS": str(bumped)}}
    held = os.open(mini_project.lock_dir.with_name(".bookworm.write.lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    started = {}
    try:
        for name, env in runs.items():
            err = open(tmp_path / f"{name}.err", "w+")
            started[name] = (subprocess.Popen(
                [sys.executable, "-m", "builders.cli", "lock", "--release", "2026.1", "--suite", "bookworm",
                 "--index-url", mini_project.index.url, "--json", *(["--force"] if name == "forced" else [])],
                env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=err, text=True), err)
        deadline = time.monotonic() + 120
        while not all("waiting until the run replacing it finishes" in (tmp_path / f"{n}.err").read_text()
                      for n in runs):
            assert time.monotonic() < deadline, {n: (tmp_path / f"{n}.err").read_text()[-2000:] for n in runs}
            assert all(p.poll() is None for p, _ in started.values())
            time.sleep(0.2)
    finally:
        os.close(held)                      # both resolved and wait to write: let them
    results = {name: json.loads(process.communicate(timeout=120)[0]) for name, (process, _) in started.items()}
    done = [r for r in results.values() if r["ok"]]
    refused = [r for r in results.values() if not r["ok"]]
    assert all("beta would go back from 2.1.0 to 2.0.0" in r["error"] for r in refused), refused
    assert results["new upstream"]["ok"]
    assert sorted(r["generation"] for r in done) == list(range(2, 2 + len(done)))   # one number, one lock
    manifest = json.loads((mini_project.lock_dir / "manifest.json").read_text())
    assert manifest["generation"] == 1 + len(done) and manifest["services"]["beta"] == "2.1.0"
    assert manifest["outputs"]["lock.txt"] == max(done, key=lambda r: r["generation"])["sha256"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounting a tmpfs needs root")
def test_a_full_disk_keeps_the_lock_and_the_next_run_succeeds(stackdeb, mini_project, tmp_path):
    """The release's lock directory on a small file system that fills while a new lock is
    written: one line, no traceback, the previous lock whole, nothing staged left behind; with
    the space back, the same run succeeds."""
    assert lock(stackdeb, mini_project)[0] == 0
    release = mini_project.root / "requirements-bundles/2026.1"
    aside = tmp_path / "aside"
    shutil.move(release, aside)
    release.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(release)], check=True)
    try:
        shutil.copytree(aside, release, dirs_exist_ok=True)
        before = snapshot(mini_project.lock_dir)
        (release / "overrides.yaml").write_text(
            "constraints:\n  - replace: libone\n    with: libone===1.1.0\n    reason: needs the 1.1 fix\n")
        filler = fill(release)
        code, err = lock(stackdeb, mini_project)
        assert code == 1 and "No space left on device" in err and "Traceback" not in err, err[-2000:]
        assert len([line for line in err.splitlines() if line.startswith("stackdeb: error:")]) == 1
        assert snapshot(mini_project.lock_dir) == before
        assert [p.name for p in release.glob(".*") if not p.name.endswith(".lock")] == []
        filler.unlink()
        code, err = lock(stackdeb, mini_project)
        assert code == 0, err[-2000:]
        assert "libone==1.1.0" in (mini_project.lock_dir / "lock.txt").read_text()
    finally:
        subprocess.run(["umount", str(release)], check=True)
