"""Compiling sdists into wheels for a target suite, inside a clean chroot of that suite.

The host's own Python and libraries never take part: a trixie bundle built on a bookworm
machine links trixie's glibc and Python 3.13, the same as one built on trixie. The compile
chroot holds build-essential, the suite's python3-dev and every package the project's bindep
file lists (all its profiles, so one chroot per suite serves every sdist); changing the bindep
file makes a new chroot.

Each compile is one run of `uv build` in a fresh overlay of that chroot, with the host's uv
bound in, SOURCE_DATE_EPOCH from the lock and no network at all: the build requirements
(setuptools, pbr, ...) are the lock's own hash-checked wheels (requirements-bundles/
build-backends.txt), offered with --no-index and pinned with --build-constraint; the system
libraries come from the suite only.
"""

import os
import shlex
import tempfile
from pathlib import Path

from builders import tools
from builders.chroot import Chroot
from builders.errors import StackdebError
from builders.manifest import sha256_file
from builders.project import Project
from builders.targets import Suite
from builders.tools import bindep
from builders.tools.namespace import Bind, run_in_chroot
from builders.wheelcache import WheelCache

BASE_PACKAGES = ["build-essential", "pkg-config", "python3", "python3-dev"]

COMPILE_SCRIPT = """\
export HOME=/root UV_CACHE_DIR=/tmp/uv-cache UV_PYTHON_DOWNLOADS=never UV_OFFLINE=1 SOURCE_DATE_EPOCH={epoch}
/stackdeb/bin/uv build --no-config --quiet --wheel --python /usr/bin/python{python} \\
    --no-index --find-links /stackdeb/backends --build-constraint /stackdeb/backends/constraints.txt \\
    --out-dir /stackdeb/out /stackdeb/sdist/{sdist}
"""


def compile_chroot(project: Project, suite: Suite) -> Chroot:
    """The suite's compile chroot: the base packages and everything the bindep file names."""
    packages = bindep.all_packages(project.bindep_path)
    return Chroot(project.chroot_dir, suite, "compile", sorted({*BASE_PACKAGES, *packages}))


class Compiler:
    """Compiles sdists for one suite, once each: the result is recorded in the wheel cache
    under `build_id` (the suite's Python ABI and codename)."""

    def __init__(self, project: Project, suite: Suite, build_id: str, source_date_epoch: int,
                 backends: dict[str, Path]):
        """`backends`: the locked build requirements, pin line -> the verified wheel."""
        self.project, self.suite, self.build_id = project, suite, build_id
        self.epoch, self.backends = source_date_epoch, backends
        self.chroot: Chroot | None = None

    def prepare(self, projects: list[str]) -> None:
        """Make the compile chroot (once per suite and bindep file) before the first compile."""
        self.chroot = compile_chroot(self.project, self.suite)
        try:
            self.chroot.ensure()
        except StackdebError as exc:
            raise StackdebError(
                f"cannot make the {self.suite.codename} compile chroot for {', '.join(projects)}: "
                f"{exc.message}",
                hint=f"every package in {self.project.bindep_path} must exist in {self.suite.codename}; "
                     f"packages asked for: {' '.join(self.chroot.packages)}") from None

    def compile(self, sdist: Path, cache: WheelCache) -> Path:
        if self.chroot is None:
            raise RuntimeError("Compiler.prepare() was not called")
        uv = tools.find("uv")
        with tempfile.TemporaryDirectory(dir=cache.incoming) as scratch:
            out, backends = Path(scratch) / "out", self._backends_dir(Path(scratch) / "backends")
            out.mkdir()
            script = COMPILE_SCRIPT.format(epoch=self.epoch, python=self.suite.python, sdist=shlex.quote(sdist.name))
            run_in_chroot(self.chroot.rootfs, self.chroot.scratch, script, network=False,
                          binds=[Bind(Path(uv), "/stackdeb/bin/uv"), Bind(sdist.parent, "/stackdeb/sdist"),
                                 Bind(backends, "/stackdeb/backends"), Bind(out, "/stackdeb/out", read_only=False)],
                          what=f"the sdist {sdist.name} in the {self.suite.codename} compile chroot (offline)",
                          fix="a missing system package goes in requirements-bundles/bindep.txt (profile named "
                              "after the project); a missing build requirement in "
                              "requirements-bundles/build-backends.txt, then `stackdeb lock`",
                          action=f"compiling {sdist.name}")
            built = list(out.glob("*.whl"))
            if len(built) != 1:
                raise StackdebError(f"compiling {sdist.name} gave {len(built)} wheels instead of one")
            wheel = cache.store(built[0], sha256_file(built[0]), built[0].name, None)
        cache.record_compiled(self.build_id, sdist.parent.name, wheel)
        return wheel

    def _backends_dir(self, folder: Path) -> Path:
        """The locked build requirements as a find-links directory with their constraints."""
        folder.mkdir()
        for wheel in self.backends.values():
            os.link(wheel, folder / wheel.name)
        (folder / "constraints.txt").write_text("".join(f"{line}\n" for line in sorted(self.backends)))
        return folder
