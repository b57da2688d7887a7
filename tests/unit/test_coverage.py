"""What a verdict proved of its build set (builders/cluster/verdict.coverage): promotion copies
exactly the covered packages, so a package no machine installed at that version, or whose
service no test passed for, must never be covered, whatever else the verdict holds."""

from hypothesis import given, strategies as st

from builders.cluster.verdict import coverage

NAMES = ["venv-keystone", "venv-glance", "venv-nova", "openstack-wheels-2026.1", "stackdeb-archive-keyring"]
VERSIONS = ["1.0-1", "1.0-2", "2.0-1"]


def build_set(packages: dict[str, str]) -> dict:
    return {"packages": [{"name": n, "version": v, "sha256": n + v} for n, v in packages.items()]}


def test_the_minimal_layout_covers_what_it_installed_and_names_the_rest():
    verdict = {"build_set": build_set({"venv-keystone": "1.0-1", "venv-glance": "1.0-1", "venv-nova": "1.0-1",
                                       "openstack-wheels-2026.1": "1.0-1"}),
               "machines": [{"installed": {"venv-keystone": "1.0-1"}}, {"installed": {"venv-glance": "1.0-1"}}],
               "tests": [{"service": "keystone", "result": "passed"}, {"service": "glance", "result": "skipped"}]}
    covered, not_covered = coverage(verdict)
    assert [p["name"] for p in covered] == ["venv-keystone"]
    assert not_covered == {"venv-glance": "installed, but no test of it passed", "venv-nova": "no machine installed it"}


def test_another_version_installed_is_not_the_build_set_tested():
    verdict = {"build_set": build_set({"venv-keystone": "1.0-2"}),
               "machines": [{"installed": {"venv-keystone": "1.0-1"}}],
               "tests": [{"service": "keystone", "result": "passed"}]}
    assert coverage(verdict) == ([], {"venv-keystone": "installed at 1.0-1, not at the build set's 1.0-2"})


verdicts = st.fixed_dictionaries({
    "build_set": st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VERSIONS)).map(build_set),
    "machines": st.lists(st.fixed_dictionaries({"installed": st.dictionaries(st.sampled_from(NAMES),
                                                                             st.sampled_from(VERSIONS))}),
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
        installed = [m["installed"][name] for m in verdict["machines"] if name in m["installed"]]
        assert installed and set(installed) == {package["version"]}
        results = {t["result"] for t in verdict["tests"] if t["service"] == service}
        assert "passed" in results and "failed" not in results
