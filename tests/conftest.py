import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fakeindex import FakeIndex  # noqa: E402

from builders import PROJECT_DIR  # noqa: E402
from builders.cli import main  # noqa: E402

SHARED_DATA = Path(os.environ.get("STACKDEB_SHARED_DATA", PROJECT_DIR.parent / "shared" / "data"))

MINI_CATALOG = """\
alpha:
  distribution: alpha-svc
  deliverable: alpha
  summary: Alpha test service
  import_name: alpha_svc
  user: alpha
  extra_requirements: [libthree]
  console_scripts: [alpha-manage]
  wsgi_apps:
    alpha-api: {module: alpha_svc.wsgi.api, port: 5000}
beta:
  distribution: beta-svc
  deliverable: beta
  summary: Beta test service
  import_name: beta_svc
  user: beta
"""

SERIES = """\
- name: hibiscus
  release-id: 2026.2
  status: development
- name: gazpacho
  release-id: 2026.1
  status: maintained
"""


def deliverable(*versions: str) -> str:
    return "releases:\n" + "".join(f"  - version: {v}\n    projects: []\n" for v in versions)


def populate_index(index: FakeIndex) -> None:
    index.add_wheel("alpha-svc", "1.0.0", requires=["libone"],
                    console_scripts={"alpha-manage": "alpha_svc:main"},
                    modules={"alpha_svc/wsgi/__init__.py": "", "alpha_svc/wsgi/api.py": "application = None\n"})
    index.add_wheel("beta-svc", "2.0.0", requires=["libone>=1.0", "libtwo"])
    index.add_wheel("libone", "1.0.0")
    index.add_wheel("libone", "1.1.0")
    index.add_sdist("libtwo", "0.5.0")
    index.add_wheel("libthree", "3.0.0")


@pytest.fixture
def fake_index(tmp_path):
    index = FakeIndex(tmp_path / "index")
    populate_index(index)
    url, server = index.serve()
    index.url = url
    yield index
    server.shutdown()


@pytest.fixture
def mini_project(tmp_path, fake_index, monkeypatch):
    """A project with a two-service catalog, its own releases and requirements data, a cache
    and a build directory, all under tmp_path; the CLI is pointed at them."""
    root = tmp_path / "project"
    (root / "packaging").mkdir(parents=True)
    (root / "packaging/services.yaml").write_text(MINI_CATALOG)
    (root / "requirements-bundles").mkdir()
    shutil.copy(PROJECT_DIR / "requirements-bundles/bindep.txt", root / "requirements-bundles/bindep.txt")
    releases = tmp_path / "releases"
    (releases / "deliverables/gazpacho").mkdir(parents=True)
    (releases / "series_status.yaml").write_text(SERIES)
    (releases / "deliverables/gazpacho/alpha.yaml").write_text(deliverable("1.0.0.0rc1", "1.0.0"))
    (releases / "deliverables/gazpacho/beta.yaml").write_text(deliverable("2.0.0", "2.1.0.0b1"))
    requirements = tmp_path / "requirements/2026.1"
    requirements.mkdir(parents=True)
    (requirements / "upper-constraints.txt").write_text("libone===1.0.0\nlibtwo===0.5.0\n")
    (requirements / "SOURCE").write_text("0123abcd 2026-08-01\n")
    env = {
        "STACKDEB_PROJECT_DIR": str(root), "STACKDEB_CACHE_DIR": str(tmp_path / "cache"),
        "STACKDEB_BUILD_DIR": str(tmp_path / "build"), "STACKDEB_RELEASES": str(releases),
        "STACKDEB_REQUIREMENTS": str(tmp_path / "requirements"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return type("MiniProject", (), {
        "root": root, "releases": releases, "requirements": tmp_path / "requirements",
        "cache": tmp_path / "cache", "build": tmp_path / "build", "index": fake_index,
        "lock_dir": root / "requirements-bundles/2026.1/bookworm",
        "bundle": tmp_path / "build/bundles/2026.1-bookworm",
    })


@pytest.fixture
def stackdeb(capfd):
    """Run the CLI in-process; return (exit code, stderr)."""
    def run(*args: str) -> tuple[int, str]:
        capfd.readouterr()
        code = main(list(args))
        return code, capfd.readouterr().err
    return run


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under a directory with its bytes, to prove nothing changed."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()
