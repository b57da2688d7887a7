"""The signed staging repository with the real reprepro, gpg, gpgv and apt."""

import functools
import hashlib
import http.server
import json
import re
import os
import random
import socket
import subprocess
import sys
import threading
import time

import pytest

from builders import PROJECT_DIR
from builders.byhash import release_hashes
from builders.chroot import runtime_chroot
from builders.errors import StackdebError
from builders.fileserver import start_file_server
from builders.manifest import sha256_file
from builders.project import Project
from builders.cluster.verdict import KEY_NAME
from builders.repository.generations import Repository
from builders.repository.promote import promote
from builders.repository.publish import publish_build_set, rollback
from builders.repository.status import status, status_data
from builders.targets import get_suite
from builders.repository.indexes import suite_index
from builders.tools import gpg
from builders.tools.namespace import Bind, run_in_chroot
from helpers import fill, make_deb

STAGING = "bookworm-2026.1-staging"
TESTED = "bookworm-2026.1"


def version(n):
    return f"1.0.0-1+os2026.1.deb12.{n}"


def stop_gpg_agent(gnupg_home):
    subprocess.run(["gpgconf", "--homedir", str(gnupg_home), "--kill", "all"], capture_output=True)


@pytest.fixture
def repo_root(tmp_path, monkeypatch):
    monkeypatch.delenv("STACKDEB_SIGNING_HOME", raising=False)
    yield tmp_path / "repo"
    stop_gpg_agent(tmp_path / "repo/gnupg")


def live_packages(root, codename=STAGING):
    repo = Repository(root)
    return suite_index(repo.generation_dir(repo.live_generation()), codename)


def test_publish_signs_and_serves_only_dists_and_pool(tmp_path, repo_root):
    number = publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    repo = Repository(repo_root)
    assert number == 1 and repo.live_generation() == 1
    for codename in (STAGING, TESTED):
        assert gpg.verify(repo.keyring(), repo.public / "dists" / codename / "InRelease")
    assert {p.name for p in repo.public.iterdir()} == {
        "dists", "pool", "stackdeb-archive-keyring.gpg", f"stackdeb-{TESTED}.sources", f"stackdeb-{STAGING}.sources",
        "index.html"}
    assert all(p.is_symlink() for p in repo.public.iterdir())     # all of it switches with live
    assert "Signed-By: /usr/share/keyrings/stackdeb-archive-keyring.gpg" in (
        repo.public / f"stackdeb-{STAGING}.sources").read_text()
    assert live_packages(repo_root)["venv-alpha"] == version(1)
    assert "stackdeb-archive-keyring" in live_packages(repo_root)


def test_rollback_restores_the_previous_build_set(tmp_path, repo_root):
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(2))])
    assert live_packages(repo_root)["venv-alpha"] == version(2)
    assert rollback(repo_root, "2026.1", "bookworm") == 3
    assert live_packages(repo_root)["venv-alpha"] == version(1)
    history = Repository(repo_root).history()
    assert [e["action"] for e in history] == ["publish", "publish", "rollback"]
    assert all(e["by"] and e["at"] for e in history)
    assert history[-1]["to"] == 1 and history[-1]["target"] == "2026.1-bookworm"
    with pytest.raises(StackdebError, match="no earlier state of 2026.1/bookworm to roll back to"):
        rollback(repo_root, "2026.1", "bookworm")       # the state of generation 1 was the first


@pytest.fixture
def verdicts(tmp_path, monkeypatch):
    """Verdicts signed the way the cluster stage signs them (builders.cluster.verdict), with a
    key of this test; `make(generation, result)` writes one for the build set as it is."""
    from builders.cluster.verdict import verdict_keyring, write_signed
    from builders.repository.generations import build_set_of
    build = tmp_path / "build"
    monkeypatch.delenv("STACKDEB_VERDICT_HOME", raising=False)
    monkeypatch.delenv("STACKDEB_VERDICT_KEYRING", raising=False)

    def make(root, generation, result="pass", name="verdict", installed=None, edit=None, **changes):
        """`installed`: the venv packages the run installed and tested (default: all of them);
        `edit`: changes the verdict before it is signed."""
        repo = Repository(root)
        build_set = {**build_set_of(repo, generation, get_suite("bookworm"), "2026.1"), **changes}
        venvs = [p for p in build_set["packages"] if p["name"].startswith("venv-")
                 and (installed is None or p["name"] in installed)]
        path = tmp_path / f"{name}-{generation}.json"
        verdict = {"result": result, "target": {"release": "2026.1", "suite": "bookworm"},
                      "build_set": build_set,
                      "machines": [{"name": "machine1", "installed": {p["name"]: p["version"] for p in venvs},
                                    "installed_sha256": {p["name"]: p["sha256"] for p in venvs}}],
                      "tests": [{"name": f"smoke.{p['name']}", "service": p["name"].removeprefix("venv-"),
                                 "result": "passed" if result == "pass" else "failed"} for p in venvs],
                      "failure": None if result == "pass" else {"message": "glance did not start"}}
        if edit:
            edit(verdict)
        write_signed(verdict, path, build)
        return path
    make.keyring = verdict_keyring(build)
    yield make
    stop_gpg_agent(build / "cluster/gnupg")


def test_promotion_needs_a_signed_passing_verdict(tmp_path, repo_root, verdicts):
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    hand_written = tmp_path / "hand.json"
    hand_written.write_text(json.dumps({"format": 1, "result": "pass", "generation": 1}))
    with pytest.raises(StackdebError, match="has no signature"):
        promote(repo_root, "2026.1", "bookworm", hand_written, verdicts.keyring)
    failing = verdicts(repo_root, 1, "fail", name="failing")
    with pytest.raises(StackdebError, match="is not a passing verdict.*glance did not start"):
        promote(repo_root, "2026.1", "bookworm", failing, verdicts.keyring)
    passing = verdicts(repo_root, 1)
    tampered = tmp_path / "tampered.json"          # a failing verdict turned into a pass
    tampered.write_text(failing.read_text().replace('"result": "fail"', '"result": "pass"'))
    assert tampered.read_text() != failing.read_text()
    (tmp_path / "tampered.json.asc").write_text(failing.with_name(failing.name + ".asc").read_text())
    with pytest.raises(StackdebError, match="signature does not verify"):
        promote(repo_root, "2026.1", "bookworm", tampered, verdicts.keyring)
    other_home = tmp_path / "other-gnupg"
    other = gpg.ensure_key(other_home, "someone else <x@stackdeb.invalid>")
    gpg.export_public(other_home, other, tmp_path / "other.gpg")
    with pytest.raises(StackdebError, match="signature does not verify"):
        promote(repo_root, "2026.1", "bookworm", passing, tmp_path / "other.gpg")
    stop_gpg_agent(other_home)
    with pytest.raises(StackdebError, match="is for 2026.1/bookworm, not 2026.2/bookworm"):
        promote(repo_root, "2026.2", "bookworm", passing, verdicts.keyring)
    binary = tmp_path / "binary.json"        # signed by the cluster key, but not text
    binary.write_bytes(b"\xff\xfe{\x00\x9c")
    home = passing.parent / "build/cluster/gnupg"
    gpg.detach_sign(home, gpg.ensure_key(home, KEY_NAME), binary, tmp_path / "binary.json.asc")
    with pytest.raises(StackdebError, match="is not a stackdeb verdict"):
        promote(repo_root, "2026.1", "bookworm", binary, verdicts.keyring)
    assert "venv-alpha" not in live_packages(repo_root, TESTED)
    assert promote(repo_root, "2026.1", "bookworm", passing, verdicts.keyring).generation == 2
    assert live_packages(repo_root, TESTED)["venv-alpha"] == version(1)
    last = Repository(repo_root).history()[-1]
    assert last["action"] == "promote" and last["build_set_generation"] == 1 and last["verdict"]["tests"] == 1


def test_promotion_copies_the_tested_build_set_even_after_staging_moved_on(tmp_path, repo_root, verdicts):
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    tested_one = verdicts(repo_root, 1)
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(2))])
    assert promote(repo_root, "2026.1", "bookworm", tested_one, verdicts.keyring).generation == 3
    assert live_packages(repo_root, TESTED)["venv-alpha"] == version(1)
    assert live_packages(repo_root)["venv-alpha"] == version(2)
    # a publish after the promotion keeps what the tested suite holds, and which build set it is
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-beta", version(1))])
    assert live_packages(repo_root, TESTED)["venv-alpha"] == version(1)
    tested_two = verdicts(repo_root, 2)
    assert promote(repo_root, "2026.1", "bookworm", tested_two, verdicts.keyring).generation == 5
    assert live_packages(repo_root, TESTED)["venv-alpha"] == version(2)
    with pytest.raises(StackdebError, match=r"generation 1\) is older than the one already promoted \(generation 2"):
        promote(repo_root, "2026.1", "bookworm", tested_one, verdicts.keyring)
    assert live_packages(repo_root, TESTED)["venv-alpha"] == version(2)


def test_promotion_copies_only_the_services_the_run_installed_and_tested(tmp_path, repo_root, verdicts):
    """A pass on a layout without beta promotes alpha alone: beta stays at its tested version."""
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1)),
                                                        make_deb(tmp_path, "venv-beta", version(1))])
    assert promote(repo_root, "2026.1", "bookworm", verdicts(repo_root, 1), verdicts.keyring).generation == 2
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(2)),
                                                        make_deb(tmp_path, "venv-beta", version(2))])
    done = promote(repo_root, "2026.1", "bookworm", verdicts(repo_root, 3, installed=["venv-alpha"]),
                   verdicts.keyring)
    assert done.not_covered == {"venv-beta": "no machine installed it"}
    assert "venv-alpha" in done.promoted and "venv-beta" not in done.promoted
    tested = live_packages(repo_root, TESTED)
    assert tested["venv-alpha"] == version(2) and tested["venv-beta"] == version(1)
    assert Repository(repo_root).history()[-1]["not_covered"] == {"venv-beta": "no machine installed it"}
    said = {line.split()[0]: line for line in status(repo_root, "2026.1", "bookworm").splitlines()
            if line.startswith("  venv-")}
    assert "(verdict " in said["venv-alpha"] and "(verdict " in said["venv-beta"]   # each by its own verdict
    assert said["venv-alpha"].split("(verdict ")[1] != said["venv-beta"].split("(verdict ")[1]
    packages = status_data(repo_root, "2026.1", "bookworm")["packages"]     # repo status --json
    assert packages["venv-alpha"]["tested"] == version(2) and packages["venv-beta"]["tested"] == version(1)
    assert {packages[n]["tested_by"] for n in ("venv-alpha", "venv-beta")} == {
        sha256_file(tmp_path / "verdict-3.json"), sha256_file(tmp_path / "verdict-1.json")}
    page = (Repository(repo_root).public / "index.html").read_text()
    assert "not covered by the last promotion: no machine installed it" in page
    assert page.count("<td>verdict <code>") == 2        # alpha and the keyring, each by the verdict that tested it
    assert page.count("</code> (promoted 20") == 2      # and when
    with pytest.raises(StackdebError, match="installed and tested none of its build set's services"):
        promote(repo_root, "2026.1", "bookworm", verdicts(repo_root, 4, name="none", installed=[]), verdicts.keyring)
    # beta needs alpha beside it: a run of beta alone proves nothing the tested suite could hold
    with pytest.raises(StackdebError, match="installed and tested none of its build set's services"):
        promote(repo_root, "2026.1", "bookworm", verdicts(repo_root, 4, name="beta", installed=["venv-beta"]),
                verdicts.keyring, needs={"beta": ["alpha"], "alpha": []})
    assert live_packages(repo_root, TESTED) == tested


def test_a_verdict_whose_machines_installed_other_than_its_build_set_promotes_nothing(tmp_path, repo_root,
                                                                                      verdicts):
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1)),
                                                        make_deb(tmp_path, "venv-beta", version(1))])

    def older_alpha(verdict):
        verdict["machines"][0]["installed"]["venv-alpha"] = version(0)

    def other_bytes(verdict):
        verdict["machines"][0]["installed_sha256"]["venv-beta"] = "f" * 64

    before = live_packages(repo_root, TESTED)
    for edit, said in ((older_alpha, f"machine1 installed venv-alpha {version(0)}, the build set has"),
                       (other_bytes, f"machine1 installed venv-beta {version(1)} with other bytes")):
        with pytest.raises(StackdebError, match=re.escape("the verdict disagrees with its own build set: " + said)):
            promote(repo_root, "2026.1", "bookworm", verdicts(repo_root, 1, name=edit.__name__, edit=edit),
                    verdicts.keyring)
    assert live_packages(repo_root, TESTED) == before and "venv-alpha" not in before


def test_the_cluster_reads_staging_and_the_tested_suite_of_one_generation(tmp_path, repo_root, verdicts):
    """What `--layout changed` compares: after alpha alone was promoted, beta is what changed."""
    from builders.cluster.changeset import changed_services
    from builders.repository.generations import live_suites
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1)),
                                                        make_deb(tmp_path, "venv-beta", version(1))])
    staged, tested = live_suites(repo_root, "2026.1", "bookworm")
    assert staged["generation"] == 1 and [p["name"] for p in tested] == ["stackdeb-archive-keyring"]
    promote(repo_root, "2026.1", "bookworm", verdicts(repo_root, 1, installed=["venv-alpha"]), verdicts.keyring)
    staged, tested = live_suites(repo_root, "2026.1", "bookworm")
    held = {p["name"]: p["version"] for p in tested}
    assert staged["generation"] == 2 and held["venv-alpha"] == version(1) and "venv-beta" not in held
    changes = changed_services(staged["packages"], tested, {"alpha": [], "beta": ["alpha"]})
    assert changes.changed == ("beta",) and changes.needed == ("alpha",)


def test_promotion_refuses_a_build_set_that_changed_or_is_gone(tmp_path, repo_root, verdicts):
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    altered = verdicts(repo_root, 1, name="altered", inrelease_sha256="0" * 64)
    with pytest.raises(StackdebError, match="is not the build set the verdict names"):
        promote(repo_root, "2026.1", "bookworm", altered, verdicts.keyring)
    gone = verdicts(repo_root, 1)
    for n in range(2, 5):
        publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(n))], keep=2)
    with pytest.raises(StackdebError, match=r"generation 1\) no longer exists"):
        promote(repo_root, "2026.1", "bookworm", gone, verdicts.keyring)
    assert "venv-alpha" not in live_packages(repo_root, TESTED)


@pytest.mark.parametrize("name, ver, arch, message", [
    ("venv-alpha", "1.0.0-1+os2026.1.deb13.1", "amd64", "was not built for bookworm"),
    ("venv-alpha", "1.0.0-1+os2026.2.deb12.1", "amd64", "was not built for release 2026.1"),
    ("venv-alpha", version(1), "arm64", "is for arm64, not amd64"),
])
def test_bad_packages_are_refused_and_the_live_repository_stays(tmp_path, repo_root, name, ver, arch, message):
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-beta", version(1))])
    with pytest.raises(StackdebError, match=message):
        publish_build_set(repo_root, "2026.1", "bookworm",
                          [make_deb(tmp_path, "venv-gamma", version(1)), make_deb(tmp_path, name, ver, arch)])
    assert Repository(repo_root).live_generation() == 1
    assert "venv-gamma" not in live_packages(repo_root)


def test_a_deb_whose_file_name_and_control_disagree_is_refused(tmp_path, repo_root):
    for lying in ("venv-beta", "venv-alpha_9.9"):         # another package, or another version
        deb = make_deb(tmp_path / lying, "venv-alpha", version(1))
        renamed = deb.with_name(deb.name.replace("venv-alpha_" + version(1), lying + ("" if "_" in lying
                                                                                        else "_" + version(1))))
        deb.rename(renamed)
        with pytest.raises(StackdebError, match="its control file says venv-alpha .*, its file name says otherwise"):
            publish_build_set(repo_root, "2026.1", "bookworm", [], foreign=[renamed])
    assert Repository(repo_root).live_generation() is None


def test_a_corrupt_deb_and_a_reused_version_are_refused(tmp_path, repo_root):
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    corrupt = tmp_path / "venv-beta_1_amd64.deb"
    corrupt.write_bytes(b"!<arch>\nnot really a package")
    with pytest.raises(StackdebError, match="is not a valid Debian package"):
        publish_build_set(repo_root, "2026.1", "bookworm", [corrupt])
    other = make_deb(tmp_path, "venv-alpha", version(1), payload="other content")
    with pytest.raises(StackdebError, match="already published with other content"):
        publish_build_set(repo_root, "2026.1", "bookworm", [other])
    assert Repository(repo_root).generations() == [1]


def test_only_whole_packages_that_a_build_recorded_are_published(tmp_path, repo_root):
    unrecorded = make_deb(tmp_path, "venv-alpha", version(1))
    (unrecorded.parent / "manifest.json").unlink()
    with pytest.raises(StackdebError, match="was not produced by a stackdeb build"):
        publish_build_set(repo_root, "2026.1", "bookworm", [unrecorded])
    changed = make_deb(tmp_path, "venv-beta", version(1))
    with open(changed, "ab") as stream:       # still readable by dpkg-deb, not what was built
        stream.write(b"\n")
    with pytest.raises(StackdebError, match="is not what its build recorded .* it changed after the build"):
        publish_build_set(repo_root, "2026.1", "bookworm", [changed])
    # from elsewhere: taken when vouched for, but only whole (a payload cut short is refused)
    cut = make_deb(tmp_path, "venv-gamma", version(1))
    truncated = tmp_path / cut.name
    truncated.write_bytes(cut.read_bytes()[:-24])
    with pytest.raises(StackdebError, match="is not whole"):
        publish_build_set(repo_root, "2026.1", "bookworm", [], foreign=[truncated])
    assert not Repository(repo_root).generations()
    # a build that recorded a broken package (no lintian read it): its sha256 matches, and it
    # is still refused, before anything is written
    broken = make_deb(tmp_path, "venv-delta", version(1))
    broken.write_bytes(broken.read_bytes()[:-24])
    (broken.parent / "manifest.json").write_text(json.dumps({"deb": broken.name, "sha256": sha256_file(broken),
                                                             "lintian": "not run"}))
    with pytest.raises(StackdebError, match="venv-delta.* is not whole"):
        publish_build_set(repo_root, "2026.1", "bookworm", [broken])
    assert not Repository(repo_root).generations()
    publish_build_set(repo_root, "2026.1", "bookworm", [], foreign=[unrecorded])
    assert live_packages(repo_root)["venv-alpha"] == version(1)


def test_a_configured_signing_home_without_a_key_is_an_error(tmp_path, repo_root, monkeypatch):
    empty = tmp_path / "gnupg-empty"
    empty.mkdir(mode=0o700)
    monkeypatch.setenv("STACKDEB_SIGNING_HOME", str(empty))
    with pytest.raises(StackdebError, match="no secret key in the configured signing home"):
        publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    assert not (repo_root / "live").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_leaves_the_live_repository_as_it_was(tmp_path, repo_root):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    try:
        root = small / "repo"
        publish_build_set(root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
        big = tmp_path / "big"
        big.mkdir()
        (big / "noise").write_bytes(os.urandom(3 << 20))
        heavy = tmp_path / "heavy"
        (heavy / "DEBIAN").mkdir(parents=True)
        (heavy / "usr/share").mkdir(parents=True)
        (heavy / "usr/share/noise").write_bytes(os.urandom(3 << 20))
        (heavy / "DEBIAN/control").write_text(
            f"Package: venv-heavy\nVersion: {version(1)}\nArchitecture: amd64\nMaintainer: t <t@t.invalid>\n"
            "Section: net\nPriority: optional\nDescription: big\n big\n")
        deb = tmp_path / "venv-heavy.deb"
        subprocess.run(["dpkg-deb", "-Znone", "-b", str(heavy), str(deb)], check=True, capture_output=True)
        with pytest.raises((StackdebError, OSError)):
            publish_build_set(root, "2026.1", "bookworm", [deb])
        assert Repository(root).live_generation() == 1
        assert live_packages(root) .get("venv-heavy") is None
        assert gpg.verify(Repository(root).keyring(), Repository(root).public / "dists" / STAGING / "InRelease")
    finally:
        stop_gpg_agent(small / "repo/gnupg")
        subprocess.run(["umount", "--lazy", str(small)], check=True)   # an agent may linger


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_keeps_promotion_out_and_the_next_one_succeeds(tmp_path, verdicts):
    """The repository's file system full when a verdict is promoted: one error, the tested suite
    and the live generation as they were, no partial generation; with space back, the same
    promotion goes through."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(small)], check=True)
    try:
        root = small / "repo"
        publish_build_set(root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
        verdict = verdicts(root, 1)
        filler = fill(small)
        with pytest.raises((StackdebError, OSError)):
            promote(root, "2026.1", "bookworm", verdict, verdicts.keyring)
        repo = Repository(root)
        assert repo.live_generation() == 1 and not list(repo.generations_dir.glob("*.partial"))
        filler.unlink()           # (reprepro writes its db's version file even to list a suite)
        assert "venv-alpha" not in live_packages(root, TESTED)
        assert promote(root, "2026.1", "bookworm", verdict, verdicts.keyring).generation == 2
        assert live_packages(root, TESTED)["venv-alpha"] == version(1)
    finally:
        stop_gpg_agent(small / "repo/gnupg")
        subprocess.run(["umount", "--lazy", str(small)], check=True)


def publish_command(repo_root, debs):
    env = {**os.environ, "STACKDEB_REPO_DIR": str(repo_root)}
    return subprocess.Popen([sys.executable, "-m", "builders.cli", "publish", *map(str, debs)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkill_at_random_points_never_leaves_a_mixed_or_unsigned_repository(tmp_path, repo_root):
    started = time.monotonic()   # one whole publish, to spread the kills over its duration
    assert publish_command(repo_root, [make_deb(tmp_path, "venv-alpha", version(1)),
                                       make_deb(tmp_path, "venv-beta", version(1))]).wait() == 0
    duration = time.monotonic() - started
    repo = Repository(repo_root)
    rng = random.Random(20261122)
    outcomes = []
    for run in range(2, 22):
        new_set = [make_deb(tmp_path, "venv-alpha", version(run)), make_deb(tmp_path, "venv-beta", version(run))]
        before = live_packages(repo_root)
        process = publish_command(repo_root, new_set)
        # up to twice the first publish: on a loaded machine a publish takes longer than that
        # one did, and some kills must still land after the switch
        time.sleep(rng.uniform(0.05, 2 * duration))
        process.kill()
        process.wait()
        after = live_packages(repo_root)
        expected_new = {**before, "venv-alpha": version(run), "venv-beta": version(run)}
        assert after in (before, expected_new), f"run {run}: a mixed repository {after}"
        assert gpg.verify(repo.keyring(), repo.public / "dists" / STAGING / "InRelease")
        outcomes.append("new" if after == expected_new else "old")
    # the kills landed both before and after the switch, so both outcomes were exercised
    assert {"old", "new"} <= set(outcomes), outcomes
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-gamma", version(1))])
    assert not list(repo.generations_dir.glob("*.partial"))


def test_a_key_rotation_killed_at_random_points_keeps_what_is_served_and_its_records_together(tmp_path, repo_root):
    """rotate-key killed anywhere: the live generation, its history, its key set and the keyring
    and signatures served always agree; the next step starts from whatever is live."""
    from builders.repository.generations import signing_keys
    from builders.repository.keys import rotate_key
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    env = {**os.environ, "STACKDEB_REPO_DIR": str(repo_root)}
    repo = Repository(repo_root)
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    started = time.monotonic()          # one whole step, to spread the kills over its duration
    rotate_key(repo_root, "2026.1", "bookworm", "add")
    duration = time.monotonic() - started
    outcomes = []
    for _ in range(20):
        keys = signing_keys(repo)
        step = ("add" if len(keys.published) == 1 else
                "switch" if keys.sign_with == keys.published[0] else "retire")
        live = repo.live_generation()
        process = subprocess.Popen([sys.executable, "-m", "builders.cli", "repo", "rotate-key", "--step", step],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # up to twice the first publish: on a loaded machine a publish takes longer than that
        # one did, and some kills must still land after the switch
        time.sleep(rng.uniform(0.05, 2 * duration))
        process.kill()
        process.wait()
        now, history, keys = repo.live_generation(), repo.history(), signing_keys(repo)
        assert history[-1]["generation"] == now, f"seed {seed}: the history is not the live generation's"
        if now != live:
            assert (history[-1]["action"], history[-1]["step"]) == ("rotate-key", step)
            assert keys.sign_with == history[-1]["sign_with"], f"seed {seed}"
        lines = subprocess.run(["gpg", "--show-keys", "--with-colons", str(repo.keyring())],
                               capture_output=True, text=True).stdout.splitlines()
        served = [lines[i + 1].split(":")[9] for i, line in enumerate(lines) if line.startswith("pub:")]
        assert sorted(served) == sorted(keys.published), f"seed {seed}: keyring and key set differ"
        assert gpg.verify(repo.keyring(), repo.public / "dists" / STAGING / "InRelease"), f"seed {seed}"
        outcomes.append("new" if now != live else "old")
    assert {"old", "new"} <= set(outcomes), (seed, outcomes)
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-beta", version(1))])
    assert not list(repo.generations_dir.glob("*.partial"))


def test_the_signing_key_is_flagged_before_it_expires_and_refused_after(tmp_path, repo_root, monkeypatch, capfd):
    import builders.signing
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    expires = gpg.expiry(repo_root / "gnupg", gpg.secret_fingerprint(repo_root / "gnupg"))
    capfd.readouterr()
    monkeypatch.setattr(builders.signing.time, "time", lambda: expires - 30 * 86400)
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(2))])
    said = capfd.readouterr().err
    assert "expires on" in said and "rotate it now" in said, said
    monkeypatch.setattr(builders.signing.time, "time", lambda: expires + 86400)
    with pytest.raises(StackdebError, match="expired on"):
        publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(3))])
    assert live_packages(repo_root)["venv-alpha"] == version(2)


def test_two_publishes_at_once_are_serialized(tmp_path, repo_root):
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    first = publish_command(repo_root, [make_deb(tmp_path, "venv-beta", version(1))])
    second = publish_command(repo_root, [make_deb(tmp_path, "venv-gamma", version(1))])
    assert first.wait() == 0 and second.wait() == 0, first.stderr.read() + second.stderr.read()
    packages = live_packages(repo_root)
    assert {"venv-alpha", "venv-beta", "venv-gamma"} <= set(packages)   # neither publish lost the other
    assert Repository(repo_root).generations()[-1] == 3


@pytest.fixture
def served(repo_root):
    server = start_file_server(repo_root / "public")
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


APT = """\
cp /stackdeb/public/stackdeb-archive-keyring.gpg /usr/share/keyrings/
sed 's|http://REPOSITORY-HOST/|{url}|' /stackdeb/public/stackdeb-{suite}.sources > /etc/apt/sources.list.d/stackdeb.sources
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*.list
"""


def in_chroot(repo_root, script):
    chroot = runtime_chroot(Project.from_env().chroot_dir, get_suite("bookworm"))
    chroot.ensure()
    return run_in_chroot(chroot.rootfs, chroot.scratch, script, network=True,
                         # the whole repository: public/ links through live/
                         binds=[Bind(repo_root, "/stackdeb")], what="apt", fix="")


def test_apt_verifies_installs_and_upgrades_services_independently(tmp_path, repo_root, served):
    publish_build_set(repo_root, "2026.1", "bookworm",
                      [make_deb(tmp_path, "venv-alpha", version(1)), make_deb(tmp_path, "venv-beta", version(1))])
    first = Repository(repo_root).live_generation()
    setup = APT.format(url=served, suite=STAGING)
    install = in_chroot(repo_root, setup + "apt-get update -qq && apt-get install -y -qq venv-alpha venv-beta "
                                           ">/dev/null && cat /usr/share/venv-alpha/version")
    assert version(1) in install
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(2))])
    upgrade = in_chroot(repo_root, setup + "apt-get update -qq && apt-get install -y -qq venv-alpha venv-beta "
                                           ">/dev/null && cat /usr/share/venv-alpha/version /usr/share/venv-beta/version"
                                           " && apt-get install -y -qq --only-upgrade venv-alpha >/dev/null"
                                           " && cat /usr/share/venv-alpha/version")
    lines = upgrade.split("\n")
    assert version(2) in lines[0] and version(1) in lines[1]   # beta stays at the older build set
    assert first == 1


def test_apt_refuses_a_tampered_release_file(tmp_path, repo_root, served):
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    inrelease = Repository(repo_root).public / "dists" / STAGING / "InRelease"
    text = inrelease.read_text()
    inrelease.write_text(text.replace("Components: main", "Components: main contrib"))
    out = in_chroot(repo_root, APT.format(url=served, suite=STAGING) + "apt-get update 2>&1 || echo REFUSED")
    assert "REFUSED" in out and ("BADSIG" in out or "not signed" in out or "signature" in out.lower()), out


def write_changes(deb, extra: str = ""):
    """A .changes beside a package, as dpkg-buildpackage writes it (unsigned)."""
    import hashlib
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    name, ver = deb.name.split("_")[:2]
    changes = deb.with_name(f"{name}_{ver}_amd64.changes")
    changes.write_text(f"Format: 1.8\nSource: {name}\nBinary: {name}\nArchitecture: amd64\nVersion: {ver}\n"
                       f"Checksums-Sha256:\n {digest} {deb.stat().st_size} {deb.name}\n{extra}")
    return changes


def test_a_package_must_match_its_changes_file(tmp_path, repo_root):
    (tmp_path / "a").mkdir()
    good = make_deb(tmp_path / "a", "venv-alpha", version(1))
    write_changes(good)
    publish_build_set(repo_root, "2026.1", "bookworm", [good])
    (tmp_path / "b").mkdir()
    changed = make_deb(tmp_path / "b", "venv-beta", version(1))
    write_changes(changed)
    with open(changed, "ab") as handle:       # altered after the build: no longer what .changes lists
        handle.write(b"\0")
    before = live_packages(repo_root)
    with pytest.raises(StackdebError, match="does not match its checksum"):
        publish_build_set(repo_root, "2026.1", "bookworm", [changed])
    assert live_packages(repo_root) == before


def test_a_signed_changes_file_must_verify_against_the_uploaders_keyring(tmp_path, repo_root, monkeypatch):
    uploader = tmp_path / "uploader-gnupg"
    uploader.mkdir(mode=0o700)
    fingerprint = gpg.ensure_key(uploader)
    keyring = tmp_path / "uploaders.gpg"
    gpg.export_public(uploader, fingerprint, keyring)
    (tmp_path / "set").mkdir()
    deb = make_deb(tmp_path / "set", "venv-alpha", version(1))
    changes = write_changes(deb)
    subprocess.run(["gpg", "--homedir", str(uploader), "--batch", "--yes", "--pinentry-mode", "loopback",
                    "--passphrase", "", "--clearsign", "--output", f"{changes}.asc", str(changes)],
                   check=True, capture_output=True)
    os.replace(f"{changes}.asc", changes)
    with pytest.raises(StackdebError, match="signed but no uploaders' keyring"):
        publish_build_set(repo_root, "2026.1", "bookworm", [deb])
    other = tmp_path / "other-gnupg"
    other.mkdir(mode=0o700)
    gpg.export_public(other, gpg.ensure_key(other), tmp_path / "other.gpg")
    monkeypatch.setenv("STACKDEB_UPLOADERS_KEYRING", str(tmp_path / "other.gpg"))
    with pytest.raises(StackdebError, match="the signature does not verify"):
        publish_build_set(repo_root, "2026.1", "bookworm", [deb])
    assert not Repository(repo_root).generations()           # nothing was published
    monkeypatch.setenv("STACKDEB_UPLOADERS_KEYRING", str(keyring))
    publish_build_set(repo_root, "2026.1", "bookworm", [deb])
    assert "venv-alpha" in live_packages(repo_root)
    for home in (uploader, other):
        stop_gpg_agent(home)


@pytest.fixture
def nginx_served(tmp_path, repo_root):
    """nginx serving public/ with the server block of docs/repository.md, on a free port."""
    docs = (PROJECT_DIR / "docs/repository.md").read_text()
    server_block = docs.split("```nginx\n", 1)[1].split("```", 1)[0]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server_block = (server_block.replace("listen 80;", f"listen 127.0.0.1:{port};")
                    .replace("/srv/stackdeb/repo/public", str(repo_root / "public")))
    conf = tmp_path / "nginx.conf"
    # user root: the test's files are under a private temporary directory, not /srv
    conf.write_text(f"user root;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
                    f"http {{\n include /etc/nginx/mime.types;\n access_log off;\n"
                    f" client_body_temp_path {tmp_path};\n{server_block}}}\n")
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/"
    nginx.terminate()
    nginx.wait()


def test_nginx_as_documented_serves_apt_and_only_public(tmp_path, repo_root, nginx_served):
    import urllib.error
    import urllib.request
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    out = in_chroot(repo_root, APT.format(url=nginx_served, suite=STAGING)
                    + "apt-get update -qq && apt-get install -y -qq venv-alpha >/dev/null && "
                      "cat /usr/share/venv-alpha/version")
    assert version(1) in out
    for private in ("conf/distributions", "db/packages.db", "gnupg/", "../conf/distributions"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(nginx_served + private, timeout=10)
        assert refused.value.code in (400, 403, 404), private


def test_apt_reading_inrelease_before_a_switch_and_indexes_after_it_still_installs(tmp_path, repo_root):
    """The race by-hash closes: the client gets generation 1's InRelease, a publish makes
    generation 2 live before it asks for the indexes, and it still installs."""
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    public = repo_root / "public"
    switched = []

    class PublishMidway(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path.endswith(f"/{STAGING}/InRelease") and not switched:
                old = (public / "dists" / STAGING / "InRelease").read_bytes()
                publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-beta", version(1))])
                switched.append(old)
                self.send_response(200)
                self.send_header("Content-Length", str(len(old)))
                self.end_headers()
                self.wfile.write(old)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(PublishMidway, directory=str(public)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        out = in_chroot(repo_root, APT.format(url=url, suite=STAGING)
                        + "apt-get update 2>&1 && apt-get install -y -qq venv-alpha >/dev/null"
                          " && cat /usr/share/venv-alpha/version")
    finally:
        server.shutdown()
    assert switched and Repository(repo_root).live_generation() == 2
    assert version(1) in out, out
    # the race was real: the index that InRelease named is no longer the one served by name
    old_release = tmp_path / "old-InRelease"
    old_release.write_bytes(switched[0])
    named = {path: digest for digest, path in release_hashes(old_release)["SHA256"]}
    served = hashlib.sha256((public / "dists" / STAGING / "main/binary-amd64/Packages").read_bytes()).hexdigest()
    assert named["main/binary-amd64/Packages"] != served


def test_by_hash_indexes_are_listed_and_kept_while_their_generation_is(tmp_path, repo_root):
    for n in range(1, 4):
        publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(n))],
                          keep=2)
    dist = repo_root / "public/dists" / STAGING
    assert "Acquire-By-Hash: yes" in (dist / "InRelease").read_text()
    by_hash = dist / "main/binary-amd64/by-hash/SHA256"
    present = {p.name for p in by_hash.iterdir()}
    repo = Repository(repo_root)
    for number in repo.generations():          # every kept generation's indexes are there
        release = repo.generation_dir(number) / "dists" / STAGING / "Release"
        for digest, path in release_hashes(release)["SHA256"]:
            if path.startswith("main/binary-amd64/Packages") and (dist / path).exists():
                assert digest in present, (number, path)
    assert repo.generations() == [2, 3] and len(present) <= 2 * 3   # generation 1's were dropped


CLIENT = """\
mkdir -p /usr/share/keyrings
cp /client/keyring.gpg /usr/share/keyrings/stackdeb-archive-keyring.gpg
sed 's|http://REPOSITORY-HOST/|{url}|' /stackdeb/public/stackdeb-{suite}.sources > /etc/apt/sources.list.d/stackdeb.sources
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*.list
apt-get update -qq 2>&1 && apt-get install -y -qq stackdeb-archive-keyring >/dev/null 2>&1 && echo UPDATED
dpkg-query -W stackdeb-archive-keyring
cp /usr/share/keyrings/stackdeb-archive-keyring.gpg /client/keyring.gpg
"""


def apt_client(repo_root, client, url) -> str:
    """One `apt-get update; apt-get install stackdeb-archive-keyring` of a client whose
    keyring (in `client`) survives from one run to the next, as on a real machine."""
    chroot = runtime_chroot(Project.from_env().chroot_dir, get_suite("bookworm"))
    chroot.ensure()
    return run_in_chroot(chroot.rootfs, chroot.scratch, CLIENT.format(url=url, suite=STAGING) + "true",
                         network=True, binds=[Bind(repo_root, "/stackdeb"), Bind(client, "/client", read_only=False)],
                         what="apt", fix="")


def test_a_key_rotation_as_documented_keeps_an_existing_client_working(tmp_path, repo_root, served):
    from builders.repository.keys import rotate_key
    from builders.tools import gpg as gpg_tool
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    client = tmp_path / "client"
    client.mkdir()
    (client / "keyring.gpg").write_bytes((repo_root / "public/stackdeb-archive-keyring.gpg").read_bytes())
    first = apt_client(repo_root, client, served)
    assert "UPDATED" in first, first
    old_client = (client / "keyring.gpg").read_bytes()      # a client that never upgrades its keyring
    home = repo_root / "gnupg"
    old_key = gpg_tool.secret_fingerprint(home)
    assert gpg_tool.expiry(home, old_key)                   # keys expire (two years)
    for step, keys_in_keyring in (("add", 2), ("switch", 2), ("retire", 1)):
        rotate_key(repo_root, "2026.1", "bookworm", step)
        out = apt_client(repo_root, client, served)
        assert "UPDATED" in out, (step, out)
        listed = subprocess.run(["gpg", "--show-keys", "--with-colons", str(client / "keyring.gpg")],
                                capture_output=True, text=True).stdout
        assert listed.count("\npub:") + listed.startswith("pub:") == keys_in_keyring, (step, listed)
        if step == "switch":                      # signed by the new key now
            inrelease = repo_root / "public/dists" / STAGING / "InRelease"
            old_only = tmp_path / "old.gpg"
            old_only.write_bytes(old_client)
            assert not gpg.verify(old_only, inrelease)
    # a rollback after the rotation is signed by the current key, with the current keyring package
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(2))])
    rollback(repo_root, "2026.1", "bookworm")
    out = apt_client(repo_root, client, served)
    assert "UPDATED" in out, out
    assert live_packages(repo_root)["venv-alpha"] == version(1)
    history = Repository(repo_root).history()
    assert [e["step"] for e in history if e["action"] == "rotate-key"] == ["add", "switch", "retire"]
    with pytest.raises(StackdebError, match="nothing to switch to"):
        rotate_key(repo_root, "2026.1", "bookworm", "switch")


def test_the_status_page_tells_each_suite_and_the_verdict_that_promoted_it(tmp_path, repo_root, verdicts, served):
    import urllib.request
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1))])
    page = urllib.request.urlopen(served + "index.html", timeout=10).read().decode()
    assert "Generation 1" in page and "Nothing promoted yet" in page
    assert f"<td>venv-alpha<td>{version(1)}<td>20" in page and "<td>-<td>waiting for a cluster run</tr>" in page
    promote(repo_root, "2026.1", "bookworm", verdicts(repo_root, 1), verdicts.keyring)
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(2))])
    page = (repo_root / "public/index.html").read_text()
    assert "Generation 3" in page and "Tested build set: generation 1, promoted" in page and "1 tests" in page
    assert f"<tr class=differs><td>venv-alpha<td>{version(2)}" in page
    assert f"<td>{version(1)}<td>waiting for a cluster run</tr>" in page
    assert "<script" not in page
    rollback(repo_root, "2026.1", "bookworm")      # the page served is the generation's own
    page = (repo_root / "public/index.html").read_text()
    assert "Generation 4" in page and f"<td>venv-alpha<td>{version(1)}" in page


TARGETS = [("2026.1", "bookworm", "deb12"), ("2026.1", "trixie", "deb13"), ("2025.1", "trixie", "deb13")]


def served_bytes(repo_root, release, suite) -> dict[str, str]:
    """sha256 of every file apt reads for one target: both suites' dists and the pool files
    their indexes name."""
    public = repo_root / "public"
    files = {}
    for codename in (f"{suite}-{release}-staging", f"{suite}-{release}"):
        for path in sorted((public / "dists" / codename).rglob("*")):
            if path.is_file():
                files[str(path.relative_to(public))] = hashlib.sha256(path.read_bytes()).hexdigest()
        for line in (public / "dists" / codename / "main/binary-amd64/Packages").read_text().splitlines():
            if line.startswith("Filename: "):
                pooled = public / line.split(" ", 1)[1]
                files[str(pooled.relative_to(public))] = hashlib.sha256(pooled.read_bytes()).hexdigest()
    return files


def test_targets_share_one_repository_and_never_touch_each_other(tmp_path, repo_root, served, verdicts):
    def alpha(release, marker, n):
        return make_deb(tmp_path / f"{release}-{marker}-{n}", "venv-alpha", f"1.0.0-1+os{release}.{marker}.{n}")

    for release, suite, marker in TARGETS:
        publish_build_set(repo_root, release, suite, [alpha(release, marker, 1)])
    others = [t for t in TARGETS if t[:2] != ("2026.1", "trixie")]

    def unchanged_while(action, changed):
        before = {t: served_bytes(repo_root, *t[:2]) for t in TARGETS if t[:2] != changed}
        action()
        for target, files in before.items():
            assert served_bytes(repo_root, *target[:2]) == files, target

    unchanged_while(lambda: publish_build_set(repo_root, "2026.1", "trixie", [alpha("2026.1", "deb13", 2)]),
                    ("2026.1", "trixie"))
    unchanged_while(lambda: promote(repo_root, "2026.1", "bookworm", verdicts(repo_root, 1), verdicts.keyring),
                    ("2026.1", "bookworm"))
    unchanged_while(lambda: rollback(repo_root, "2026.1", "trixie"), ("2026.1", "trixie"))
    assert live_packages(repo_root, "trixie-2026.1-staging")["venv-alpha"] == "1.0.0-1+os2026.1.deb13.1"
    assert len(others) == 2

    # one apt client per suite: each sees its own target's build and nothing of the others
    script = "".join(APT.format(url=served, suite=codename)
                     + f"apt-get update -qq && echo {codename}: $(apt-cache madison venv-alpha | cut -d'|' -f2)\n"
                     for release, suite, _ in TARGETS for codename in (f"{suite}-{release}-staging", f"{suite}-{release}"))
    seen = {name: listed.strip() for name, listed in
            (line.split(":", 1) for line in in_chroot(repo_root, script).splitlines() if ":" in line)}
    assert seen == {
        "bookworm-2026.1-staging": "1.0.0-1+os2026.1.deb12.1", "bookworm-2026.1": "1.0.0-1+os2026.1.deb12.1",
        "trixie-2026.1-staging": "1.0.0-1+os2026.1.deb13.1", "trixie-2026.1": "",
        "trixie-2025.1-staging": "1.0.0-1+os2025.1.deb13.1", "trixie-2025.1": ""}, seen
    keyrings = {p.name for p in (repo_root / "public/pool").rglob("stackdeb-archive-keyring_*.deb")}
    assert len(keyrings) == 1                       # one keyring package serves every target
    status = subprocess.run([sys.executable, "-m", "builders.cli", "repo", "status", "--release", "2026.1",
                             "--suite", "trixie"], env={**os.environ, "STACKDEB_REPO_DIR": str(repo_root)},
                            capture_output=True, text=True)
    assert "other targets: 2025.1-trixie, 2026.1-bookworm" in status.stdout, status.stderr
    assert [line.split()[1] for line in status.stdout.splitlines() if "-> generation" in line] == \
        ["publish", "publish", "rollback"]


def test_the_status_page_shows_every_target_and_keystones_versions(tmp_path, repo_root, served, verdicts):
    """The page as a browser renders it, for the three targets: a screenshot that is not blank,
    and the text Chromium laid out (the DOM after rendering) giving each target's suites and
    keystone's version in staging and tested."""
    import re
    import shutil
    from PIL import Image
    keystone = {("2026.1", "bookworm"): "29.0.2-1+os2026.1.deb12.3", ("2026.1", "trixie"): "29.0.2-1+os2026.1.deb13.1",
                ("2025.1", "trixie"): "27.0.2-1+os2025.1.deb13.1"}
    for (release, suite), ver in keystone.items():
        publish_build_set(repo_root, release, suite, [make_deb(tmp_path / release / suite, "venv-keystone", ver)])
    promote(repo_root, "2026.1", "bookworm", verdicts(repo_root, 1), verdicts.keyring)
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: bootstrap.sh installs it"
    browse = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--window-size=1200,1400", "--virtual-time-budget=5000"]
    shot = tmp_path / "status.png"
    subprocess.run([*browse, f"--screenshot={shot}", served + "index.html"], check=True, capture_output=True, timeout=120)
    dom = subprocess.run([*browse, "--dump-dom", served + "index.html"], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    assert len(Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)) > 20
    sections = {}
    for part in dom.split("<h2>")[1:]:
        title, _, body = part.partition("</h2>")
        sections[title.strip()] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
    for (release, suite), ver in keystone.items():
        row = re.search(r"venv-keystone (\S+) \S+ (\S+)", sections.get(f"{suite}-{release}", ""))
        tested = ver if suite == "bookworm" else "-"
        assert row and row.groups() == (ver, tested), (suite, release, sections.keys(), row and row.groups())
    assert "Tested build set: generation 1" in sections["bookworm-2026.1"]
    assert "Nothing promoted yet" in sections["trixie-2025.1"] and "Nothing promoted yet" in sections["trixie-2026.1"]


def test_readers_at_once_all_answer_and_write_nothing(tmp_path, repo_root):
    """What a generation holds is read from its signed indexes: twelve `repo status` at once
    all answer, and the live generation's bytes stay as they were (reprepro's own listing took
    its database lock, so that two readers at once failed, and wrote into the generation)."""
    publish_build_set(repo_root, "2026.1", "bookworm", [make_deb(tmp_path, "venv-alpha", version(1)),
                                                        make_deb(tmp_path, "venv-beta", version(1))])
    live = Repository(repo_root).generation_dir(Repository(repo_root).live_generation())
    before = {p: p.read_bytes() for p in live.rglob("*") if p.is_file()}
    env = {**os.environ, "STACKDEB_REPO_DIR": str(repo_root)}
    readers = [subprocess.Popen([sys.executable, "-m", "builders.cli", "repo", "status", "--release", "2026.1",
                                 "--suite", "bookworm", "--json"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(12)]
    answers = [(reader.wait(), *reader.communicate()) for reader in readers]
    assert [code for code, _, _ in answers] == [0] * 12, [err[-500:] for code, _, err in answers if code]
    for _, out, _ in answers:
        packages = json.loads(out)["packages"]
        assert packages["venv-alpha"]["staging"] == version(1) and packages["venv-beta"]["staging"] == version(1)
    assert {p: p.read_bytes() for p in live.rglob("*") if p.is_file()} == before
