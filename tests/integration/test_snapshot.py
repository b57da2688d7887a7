"""The upstream snapshot: refreshed from real git repositories, and what a plain clone uses."""

from builders.buildmaster.embedded import git_from_snapshot
from builders.snapshot import RELEASES_SNAPSHOT, REQUIREMENTS_SNAPSHOT
from helpers import snapshot


def test_refresh_writes_the_catalog_deliverables_and_constraints_with_their_commits(mini_project, stackdeb, tmp_path):
    releases = git_from_snapshot(mini_project.releases, tmp_path / "releases.git", branch_dirs=False)
    requirements = git_from_snapshot(mini_project.requirements, tmp_path / "requirements.git", branch_dirs=True)
    (mini_project.releases / "deliverables/gazpacho/unrelated.yaml").write_text("releases: []\n")
    output = tmp_path / "upstream"
    code, err = stackdeb("snapshot", "--releases", str(releases), "--requirements", str(requirements),
                         "--series", "gazpacho", "--output", str(output))
    assert code == 0, err
    files = snapshot(output)
    assert sorted(files) == ["openstack-releases/SOURCE", "openstack-releases/deliverables/gazpacho/alpha.yaml",
                             "openstack-releases/deliverables/gazpacho/beta.yaml",
                             "openstack-releases/series_status.yaml",
                             "openstack-requirements/2026.1/SOURCE",
                             "openstack-requirements/2026.1/upper-constraints.txt"]
    assert files["openstack-requirements/2026.1/upper-constraints.txt"] == b"libone===1.0.0\nlibtwo===0.5.0\n"
    commit, date = files["openstack-releases/SOURCE"].decode().split()
    assert len(commit) == 40 and date[:2] == "20"
    # the refreshed snapshot is a source like any other: the lock reads it
    code, err = stackdeb("services", "--releases", str(output / "openstack-releases"))
    assert code == 0, err


def test_refresh_refuses_an_unknown_series_and_a_plain_directory(mini_project, stackdeb, tmp_path):
    releases = git_from_snapshot(mini_project.releases, tmp_path / "releases.git", branch_dirs=False)
    requirements = git_from_snapshot(mini_project.requirements, tmp_path / "requirements.git", branch_dirs=True)
    output = tmp_path / "upstream"
    code, err = stackdeb("snapshot", "--releases", str(releases), "--requirements", str(requirements),
                         "--series", "zebra", "--output", str(output))
    assert code != 0 and "unknown series: zebra" in err and not output.exists()
    code, err = stackdeb("snapshot", "--releases", str(mini_project.releases), "--requirements",
                         str(requirements), "--series", "gazpacho", "--output", str(output))
    assert code != 0 and "refreshed from the upstream git repositories" in err and not output.exists()


def test_with_no_source_given_the_committed_snapshot_is_used(stackdeb, monkeypatch):
    monkeypatch.delenv("STACKDEB_RELEASES", raising=False)
    monkeypatch.delenv("STACKDEB_REQUIREMENTS", raising=False)
    assert (RELEASES_SNAPSHOT / "deliverables/gazpacho/keystone.yaml").is_file()
    assert (REQUIREMENTS_SNAPSHOT / "2026.1/upper-constraints.txt").is_file()
    code, err = stackdeb("services", "--release", "2026.1")
    assert code == 0, err
