"""What a verdict proved of its build set (builders/cluster/verdict.coverage): promotion copies
exactly the covered packages, so a package no machine installed at that version, or whose
service no test passed for, must never be covered, whatever else the verdict holds."""

import os
import subprocess

from hypothesis import given, strategies as st

from builders.cluster.run import installed_packages
from builders.cluster.verdict import coverage

NAMES = ["venv-keystone", "venv-glance", "venv-nova", "openstack-wheels-2026.1", "stackdeb-archive-keyring"]
VERSIONS = ["1.0-1", "1.0-2", "2.0-1"]


def build_set(packages: dict[str, str]) -> dict:
    return {"packages": [{"name": n, "version": v, "sha256": n + v} for n, v in packages.items()]}


def machine(**installed: str) -> dict:
    """A machine as the verdict records it, each package at the sha256 the build set has."""
    names = {key.replace("_", "-"): version for key, version in installed.items()}
    return {"installed": names, "installed_sha256": {n: n + v for n, v in names.items()}}


def test_the_minimal_layout_covers_what_it_installed_and_names_the_rest():
    verdict = {"build_set": build_set({"venv-keystone": "1.0-1", "venv-glance": "1.0-1", "venv-nova": "1.0-1",
                                       "openstack-wheels-2026.1": "1.0-1"}),
               "machines": [machine(venv_keystone="1.0-1"), machine(venv_glance="1.0-1")],
               "tests": [{"service": "keystone", "result": "passed"}, {"service": "glance", "result": "skipped"}]}
    covered, not_covered = coverage(verdict)
    assert [p["name"] for p in covered] == ["venv-keystone"]
    assert not_covered == {"venv-glance": "installed, but no test of it passed", "venv-nova": "no machine installed it"}


def test_another_version_installed_is_not_the_build_set_tested():
    verdict = {"build_set": build_set({"venv-keystone": "1.0-2"}),
               "machines": [machine(venv_keystone="1.0-1")],
               "tests": [{"service": "keystone", "result": "passed"}]}
    assert coverage(verdict) == ([], {"venv-keystone": "installed at 1.0-1, not at the build set's 1.0-2"})


def test_the_same_version_with_other_bytes_is_not_the_build_set_tested():
    other = machine(venv_keystone="1.0-1")
    other["installed_sha256"]["venv-keystone"] = "f" * 64
    for machines in ([other], [{"installed": {"venv-keystone": "1.0-1"}}]):      # other bytes, or none said
        verdict = {"build_set": build_set({"venv-keystone": "1.0-1"}), "machines": machines,
                   "tests": [{"service": "keystone", "result": "passed"}]}
        covered, not_covered = coverage(verdict)
        assert covered == [] and "sha256 differs or unknown" in not_covered["venv-keystone"]


def test_the_install_task_reports_what_dpkg_and_apt_say(tmp_path):
    """The report loop of the install task, run by sh with dpkg-query and apt-cache answering
    as they do on a node (one package installed, one not)."""
    from test_cluster_logic import context
    from builders.cluster import configure
    (tmp_path / "dpkg-query").write_text('#!/bin/sh\n[ "$3" = venv-keystone ] && printf 29.0.2-3 || exit 1\n')
    (tmp_path / "apt-cache").write_text('#!/bin/sh\nprintf "Package: venv-keystone\\nVersion: 29.0.2-3\\n'
                                        'SHA256: abc123\\nSHA1: x\\n"\n')
    for tool in ("dpkg-query", "apt-cache"):
        (tmp_path / tool).chmod(0o755)
    script = configure.install_task(context(), context().layout.roles[0]).split("tail -n 5 /tmp/install.log\n")[1]
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"}).stdout
    assert installed_packages(out + "installed garbage\n") == {"venv-keystone": {"version": "29.0.2-3",
                                                                                 "sha256": "abc123"}}


verdicts = st.fixed_dictionaries({
    "build_set": st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VERSIONS)).map(build_set),
    "machines": st.lists(st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VERSIONS)).flatmap(
        lambda installed: st.fixed_dictionaries({
            "installed": st.just(installed),
            # the build set's bytes, or other ones
            "installed_sha256": st.fixed_dictionaries({n: st.sampled_from([n + v, "other"])
                                                       for n, v in installed.items()})})),
        max_size=3),
    "tests": st.lists(st.fixed_dictionaries({"service": st.sampled_from(["keystone", "glance", "nova", None]),
                                             "result": st.sampled_from(["passed", "failed", "skipped"])}),
                      max_size=8),
})


@given(verdicts)
def test_a_covered_package_was_installed_at_its_version_and_tested(verdict):
    covered, not_covered = coverage(verdict)
    venvs = {p["name"] for p in verdict["build_set"]["packages"] if p["name"].startswith("venv-")}
    assert {p["name"] for p in covered} | set(not_covered) == venvs
    assert not {p["name"] for p in covered} & set(not_covered)
    for package in covered:
        name, service = package["name"], package["name"].removeprefix("venv-")
        installed = [(m["installed"][name], m["installed_sha256"][name]) for m in verdict["machines"]
                     if name in m["installed"]]
        assert installed and set(installed) == {(package["version"], package["sha256"])}
        results = {t["result"] for t in verdict["tests"] if t["service"] == service}
        assert "passed" in results and "failed" not in results


def test_what_waits_in_staging_says_why_from_the_last_run(tmp_path):
    """`repo status`: a package that failed names the verdict and the failure, one beside it
    says its run failed, one the run did not install says so, one no run saw is untested."""
    import json
    from builders.cluster.report import waiting_reasons
    from builders.manifest import sha256_file
    verdict = {"result": "fail", "layout": {"name": "changed"}, "finished_at": "2026-12-07T21:00:00Z",
               "build_set": build_set({"venv-keystone": "2", "venv-glance": "2", "venv-nova": "2"}),
               "machines": [machine(venv_keystone="2", venv_glance="2")],
               "failure": {"phase": "configure", "service": "glance", "message": "glance-api died at start"},
               "tests": [{"service": "keystone", "result": "passed"}]}
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(verdict))
    packages = {f"venv-{s}": {"staging": "2", "tested": "1"} for s in ("keystone", "glance", "nova")}
    packages["venv-heat"] = {"staging": "3", "tested": "1"}
    packages["venv-swift"] = {"staging": "1", "tested": "1"}
    which = f"verdict {sha256_file(path)[:12]} (layout changed, 2026-12-07T21:00:00Z)"
    assert waiting_reasons(packages, path) == {
        "venv-glance": f"failed in {which}: configure: glance-api died at start",
        "venv-keystone": f"its run failed in {which} (in configure, at glance)",
        "venv-nova": f"its run failed in {which} (in configure, at glance)",
        "venv-heat": "not tested yet: no cluster run of this version"}
    verdict.update(result="pass", failure=None)
    path.write_text(json.dumps(verdict))
    which = f"verdict {sha256_file(path)[:12]} (layout changed, 2026-12-07T21:00:00Z)"
    said = waiting_reasons(packages, path)
    assert said["venv-nova"] == f"not covered by {which}: no machine installed it"
    assert said["venv-glance"] == f"not covered by {which}: installed, but no test of it passed"
    assert said["venv-keystone"] == f"covered by {which}, not promoted yet"
    assert waiting_reasons(packages, tmp_path / "none.json")["venv-keystone"].startswith("not tested yet")
