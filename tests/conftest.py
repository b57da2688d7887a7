import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fakeindex import FakeIndex  # noqa: E402

from builders import PROJECT_DIR  # noqa: E402
from builders.cli import main  # noqa: E402
from builders.project import Project  # noqa: E402
from helpers import MINI_CATALOG, SERIES, SHARED_DATA, deliverable  # noqa: E402

# The tests name their target: the shared fixtures (one build chroot, one bundle, one cluster
# run) are 2026.1 on bookworm, whatever the project's default; tests/e2e/test_trixie.py and
# the trixie cases say trixie. A developer's STACKDEB_SUITE must not move them.
os.environ["STACKDEB_RELEASE"], os.environ["STACKDEB_SUITE"] = "2026.1", "bookworm"

def populate_index(index: FakeIndex) -> None:
    index.add_wheel("alpha-svc", "1.0.0", requires=["libone"],
                    console_scripts={"alpha-manage": "alpha_svc:main"},
                    modules={"alpha_svc/wsgi/__init__.py": "", "alpha_svc/wsgi/api.py": "application = None\n"})
    index.add_wheel("beta-svc", "2.0.0", requires=["libone>=1.0", "libtwo"])
    index.add_wheel("libone", "1.0.0")
    index.add_wheel("libone", "1.1.0")
    index.add_sdist("libtwo", "0.5.0")
    index.add_wheel("libthree", "3.0.0", modules={"libthree/tests/__init__.py": "",
                                                 "libthree/tests/test_three.py": "def test_three():\n    pass\n"})
    index.uv_version = index.add_uv()


@pytest.fixture
def fake_index(tmp_path):
    index = FakeIndex(tmp_path / "index")
    populate_index(index)
    url, server = index.serve()
    index.url = url
    yield index
    server.shutdown()


def make_mini_project(base: Path, index: FakeIndex):
    """A project with a two-service catalog, its own releases and requirements data, a cache
    and a build directory, all under `base`; returns it and the environment that points the
    CLI at it."""
    root = base / "project"
    (root / "packaging").mkdir(parents=True)
    (root / "packaging/services.yaml").write_text(MINI_CATALOG)
    (root / "requirements-bundles").mkdir()
    shutil.copy(PROJECT_DIR / "requirements-bundles/bindep.txt", root / "requirements-bundles/bindep.txt")
    releases = base / "releases"
    (releases / "deliverables/gazpacho").mkdir(parents=True)
    (releases / "series_status.yaml").write_text(SERIES)
    (releases / "deliverables/gazpacho/alpha.yaml").write_text(deliverable("1.0.0.0rc1", "1.0.0"))
    (releases / "deliverables/gazpacho/beta.yaml").write_text(deliverable("2.0.0", "2.1.0.0b1"))
    requirements = base / "requirements/2026.1"
    requirements.mkdir(parents=True)
    (requirements / "upper-constraints.txt").write_text("libone===1.0.0\nlibtwo===0.5.0\n")
    (requirements / "SOURCE").write_text("0123abcd 2026-08-01\n")
    env = {
        "STACKDEB_PROJECT_DIR": str(root), "STACKDEB_CACHE_DIR": str(base / "cache"),
        "STACKDEB_BUILD_DIR": str(base / "build"), "STACKDEB_RELEASES": str(releases),
        "STACKDEB_REQUIREMENTS": str(base / "requirements"),
        # chroots are big and slow to make: one per machine, shared with real runs
        "STACKDEB_CHROOT_DIR": str(Project.from_env().chroot_dir),
    }
    mini = type("MiniProject", (), {
        "root": root, "releases": releases, "requirements": base / "requirements",
        "cache": base / "cache", "build": base / "build", "index": index,
        "lock_dir": root / "requirements-bundles/2026.1/bookworm",
        "bundle": base / "build/bundles/2026.1-bookworm",
    })
    return mini, env


@pytest.fixture
def mini_project(tmp_path, fake_index, monkeypatch):
    mini, env = make_mini_project(tmp_path, fake_index)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return mini


@pytest.fixture
def stackdeb(capfd):
    """Run the CLI in-process; return (exit code, stderr)."""
    def run(*args: str) -> tuple[int, str]:
        capfd.readouterr()
        code = main(list(args))
        return code, capfd.readouterr().err
    return run




@pytest.fixture
def shared_data():
    if not (SHARED_DATA / "openstack-releases").is_dir():
        pytest.fail(f"the upstream snapshot is missing at {SHARED_DATA} "
                    "(upstream/ in the checkout, or set STACKDEB_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def real_project(tmp_path, shared_data, monkeypatch):
    """A copy of the project's committed data, with the real upstream snapshots as sources and
    the real shared cache (so a warm machine reuses its wheels)."""
    root = tmp_path / "project"
    for folder in ("packaging", "requirements-bundles"):
        shutil.copytree(PROJECT_DIR / folder, root / folder)
    monkeypatch.setenv("STACKDEB_PROJECT_DIR", str(root))
    monkeypatch.setenv("STACKDEB_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("STACKDEB_RELEASES", str(shared_data / "openstack-releases"))
    monkeypatch.setenv("STACKDEB_REQUIREMENTS", str(shared_data / "openstack-requirements"))
    return root


@pytest.fixture(scope="session")
def real_packages(tmp_path_factory):
    """keystone, glance and placement built once for the session (e2e: the venv package
    tests and the cluster share them), twice each (the reproducibility proof) with lintian,
    from the committed 2026.1/bookworm lock; returns the build directory."""
    build = tmp_path_factory.mktemp("build")
    env = {**os.environ, "STACKDEB_BUILD_DIR": str(build)}
    for args in (["bundle"], ["package", "keystone", "glance", "placement", "--check-reproducible"]):
        result = subprocess.run([sys.executable, "-m", "builders.cli", *args], env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-4000:]
    return build
