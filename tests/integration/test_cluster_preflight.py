"""`stackdeb cluster` refuses bad input with one message, before it starts anything: no
namespace, no VM, no run directory."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from builders.repository.publish import publish_build_set
from helpers import make_deb


def namespaces() -> set[str]:
    return set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split())


def cluster(env, *args):
    before = namespaces()
    result = subprocess.run([sys.executable, "-m", "builders.cli", "cluster", *args], env={**os.environ, **env},
                            capture_output=True, text=True)
    result.new_namespaces = namespaces() - before
    return result


def started_nothing(result, build: Path) -> bool:
    return not result.new_namespaces and not (build / "cluster").exists()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.delenv("STACKDEB_SIGNING_HOME", raising=False)
    yield {"STACKDEB_BUILD_DIR": str(tmp_path / "build"), "STACKDEB_REPO_DIR": str(tmp_path / "repo")}
    subprocess.run(["gpgconf", "--homedir", str(tmp_path / "repo/gnupg"), "--kill", "all"], capture_output=True)


@pytest.mark.parametrize("layout, message", [
    ("enormous", "unknown layout 'enormous'"),
    ("/nonexistent/layout.yaml", "layout file /nonexistent/layout.yaml does not exist"),
])
def test_unknown_or_unsupported_layouts(env, tmp_path, layout, message):
    result = cluster(env, "--layout", layout)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert started_nothing(result, tmp_path / "build")


def test_a_layout_bigger_than_this_machine(env, tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text("roles:\n  controller:\n    services: [keystone]\n    infrastructure: [mariadb]\n"
                    "    hardware: {memory_mb: 4000000}\n")
    result = cluster(env, "--layout", str(huge))
    assert result.returncode == 1 and "needs 4000000 MiB for its VMs" in result.stderr, result.stderr
    assert started_nothing(result, tmp_path / "build")


def test_a_malformed_layout_file(env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("roles:\n  controller:\n    services: [keystone]\n    hardware: {memory_mb: lots}\n")
    result = cluster(env, "--layout", str(bad))
    assert result.returncode == 1 and "hardware.memory_mb must be a whole number" in result.stderr, result.stderr
    assert started_nothing(result, tmp_path / "build")


def test_missing_images_and_an_empty_staging_suite(env, tmp_path):
    result = cluster(env)
    assert result.returncode == 1, result.stderr
    assert "the discovery image for bookworm is missing" in result.stderr
    assert "the node image for 2026.1/bookworm is missing" in result.stderr
    assert started_nothing(result, tmp_path / "build")


def images_in_place(tmp_path, repo):
    """The images' manifests, as the image stage writes them: the images count as up to date."""
    from builders.images import element_digest, PRUNE_MODULES, PRUNE_PATHS
    from builders.manifest import sha256_file, sha256_json, write_json
    images = tmp_path / "build/images"
    write_json(images / "discovery-bookworm/manifest.json",
               {"inputs": {"element": element_digest("stackdeb-discovery"),
                           "prune": sha256_json([PRUNE_PATHS, PRUNE_MODULES])}})
    write_json(images / "node-2026.1-bookworm/manifest.json",
               {"inputs": {"elements": {e: element_digest(e) for e in ("stackdeb-node", "stackdeb-staging-repo")},
                           "keyring": sha256_file(repo / "public/stackdeb-archive-keyring.gpg"),
                           "env": {"DIB_STACKDEB_SUITE": "bookworm-2026.1-staging"}}})
    return images


def test_a_build_set_without_the_layouts_packages(env, tmp_path):
    """With images in place (their manifests, as the image stage writes them), a staging suite
    without venv-glance is refused by name."""
    repo = tmp_path / "repo"
    publish_build_set(repo, "2026.1", "bookworm", [make_deb(tmp_path, "venv-keystone", "29.0.2-1+os2026.1.deb12.1")])
    images = images_in_place(tmp_path, repo)
    result = cluster(env, "--layout", "minimal")
    assert result.returncode == 1, result.stderr
    assert "venv-placement, venv-glance not in bookworm-2026.1-staging (generation 1)" in result.stderr, result.stderr
    assert started_nothing(result, tmp_path / "build")
    (images / "discovery-bookworm/manifest.json").write_text('{"inputs": {"element": "old"}}')
    result = cluster(env, "--layout", "minimal")
    assert "the discovery image for bookworm is out of date" in result.stderr, result.stderr


def test_a_changed_service_whose_needs_no_suite_holds(env, tmp_path):
    """`--layout changed` (the default): nova alone in staging, nothing tested yet: what it
    needs cannot be installed from anywhere, said by name before anything starts."""
    repo = tmp_path / "repo"
    publish_build_set(repo, "2026.1", "bookworm", [make_deb(tmp_path, "venv-nova", "33.0.0-1+os2026.1.deb12.1"),
                                                   make_deb(tmp_path, "venv-keystone", "29.0.2-1+os2026.1.deb12.1")])
    images_in_place(tmp_path, repo)
    result = cluster(env)
    assert result.returncode == 1, result.stderr
    assert "nova need glance, neutron, placement, which neither staging nor the tested suite holds" in result.stderr
    assert started_nothing(result, tmp_path / "build")
