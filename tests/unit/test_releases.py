import subprocess

import pytest

from builders.errors import StackdebError
from builders.releases import Source, find_series, open_source, service_version, upper_constraints
from helpers import SERIES, deliverable


@pytest.fixture
def releases_dir(tmp_path):
    root = tmp_path / "releases"
    (root / "deliverables/gazpacho").mkdir(parents=True)
    (root / "series_status.yaml").write_text(SERIES)
    (root / "deliverables/gazpacho/keystone.yaml").write_text(
        deliverable("29.0.0.0rc1", "29.0.0", "29.0.1", "29.0.10", "30.0.0.0b1"))
    return root


def test_series_by_id_or_codename(releases_dir, tmp_path):
    source = Source(str(releases_dir), tmp_path / "cache")
    assert find_series(source, "2026.1") == find_series(source, "gazpacho")
    assert find_series(source, "2026.1").requirements_branch == "stable/2026.1"
    assert find_series(source, "hibiscus").requirements_branch == "master"


def test_an_unknown_release_lists_the_known_ones(releases_dir, tmp_path):
    with pytest.raises(StackdebError, match="unknown release '2099.1'") as error:
        find_series(Source(str(releases_dir), tmp_path), "2099.1")
    assert "2026.1 (gazpacho)" in error.value.hint


def test_newest_final_release_ignores_rc_and_beta_and_sorts_numerically(releases_dir, tmp_path):
    source = Source(str(releases_dir), tmp_path)
    assert service_version(source, find_series(source, "2026.1"), "keystone") == "29.0.10"


def test_a_pinned_version_must_be_a_final_release(releases_dir, tmp_path):
    source = Source(str(releases_dir), tmp_path)
    series = find_series(source, "2026.1")
    assert service_version(source, series, "keystone", pinned="29.0.1") == "29.0.1"
    with pytest.raises(StackdebError, match="29.0.0.0rc1 is not a final release"):
        service_version(source, series, "keystone", pinned="29.0.0.0rc1")


def test_an_unknown_deliverable_is_named(releases_dir, tmp_path):
    source = Source(str(releases_dir), tmp_path)
    with pytest.raises(StackdebError, match="deliverable 'nova' has no file deliverables/gazpacho/nova.yaml"):
        service_version(source, find_series(source, "2026.1"), "nova")


def test_no_source_given_says_which_option_to_pass(tmp_path):
    with pytest.raises(StackdebError, match="no openstack/releases source given") as error:
        open_source(None, "openstack/releases", "--releases", tmp_path)
    assert "--releases" in error.value.hint
    with pytest.raises(StackdebError, match="neither a directory nor a git URL"):
        open_source(str(tmp_path / "nope"), "openstack/releases", "--releases", tmp_path)


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


def test_git_sources_read_upper_constraints_from_the_stable_branch(releases_dir, tmp_path):
    repo = tmp_path / "requirements"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "master")
    (repo / "upper-constraints.txt").write_text("oslo.config===99.0.0\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "master")
    git(repo, "checkout", "-qb", "stable/2026.1")
    (repo / "upper-constraints.txt").write_text("oslo.config===10.3.0\n")
    git(repo, "commit", "-qam", "stable")
    git(repo, "checkout", "-q", "master")

    series_source = Source(str(releases_dir), tmp_path / "cache")
    requirements = Source(str(repo), tmp_path / "cache")
    stable = upper_constraints(requirements, find_series(series_source, "2026.1"))
    assert stable.text == "oslo.config===10.3.0\n"
    assert stable.origin.startswith("stable/2026.1@")
    assert upper_constraints(requirements, find_series(series_source, "hibiscus")).text == "oslo.config===99.0.0\n"


def test_snapshot_directories_read_per_release_folders(tmp_path, releases_dir):
    (tmp_path / "req/2026.1").mkdir(parents=True)
    (tmp_path / "req/2026.1/upper-constraints.txt").write_text("a===1\n")
    (tmp_path / "req/2026.1/SOURCE").write_text("abc123 2026-01-01\n")
    series = find_series(Source(str(releases_dir), tmp_path), "2026.1")
    uc = upper_constraints(Source(str(tmp_path / "req"), tmp_path), series)
    assert (uc.text, uc.origin) == ("a===1\n", "stable/2026.1@abc123")
    with pytest.raises(StackdebError, match="no upper-constraints.txt for 2026.2"):
        upper_constraints(Source(str(tmp_path / "req"), tmp_path),
                          find_series(Source(str(releases_dir), tmp_path), "2026.2"))


GOOD = "  - version: 1.0.0\n    projects:\n      - repo: openstack/x\n        hash: " + "a" * 40 + "\n"


@pytest.mark.parametrize("text, message", [
    ("- just a list\n", "expected a mapping at the top level"),
    ("releases: {version: 1.0.0}\n", "'releases' must be a list"),
    ("releases:\n  - 1.0.0\n", "release #1: expected a mapping"),
    ("releases:\n  - version: 2026.1\n", "release #1: 'version' must be a string"),
    ("releases:\n  - version: '1.0.0 '\n", "'1.0.0 ' is not a release version"),
    ("releases:\n  - version: v2.0.0\n", "'v2.0.0' is not a release version"),
    ("releases:\n" + GOOD + "  - version: 1.0.0\n", "release #2: version 1.0.0 is listed twice"),
    ("releases:\n  - version: 1.1.0\n    projects:\n      - repo: openstack/x\n        hash: main\n",
     "release #1 \\(1.1.0\\): each project needs a repo and a 40-hex commit hash"),
    ("releases: [\n", "is not valid YAML"),
])
def test_a_malformed_deliverable_names_the_file_and_the_entry(releases_dir, tmp_path, text, message):
    (releases_dir / "deliverables/gazpacho/keystone.yaml").write_text(text)
    source = Source(str(releases_dir), tmp_path)
    with pytest.raises(StackdebError, match=message) as error:
        service_version(source, find_series(source, "2026.1"), "keystone")
    assert "deliverables/gazpacho/keystone.yaml" in str(error.value)


def test_a_snapshot_directory_names_its_commit(releases_dir, tmp_path):
    assert Source(str(releases_dir), tmp_path).commit() == "snapshot"
    (releases_dir / "SOURCE").write_text("0123abcd 2026-08-21\n")
    assert Source(str(releases_dir), tmp_path).commit() == "snapshot@0123abcd"
