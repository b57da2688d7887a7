"""Compiling sdists into wheels for a target suite, inside a clean chroot of that suite.

The host's own Python and libraries never take part: a trixie bundle built on a bookworm
machine links trixie's glibc and Python 3.13, the same as one built on trixie. The compile
chroot holds build-essential, the suite's python3-dev and every package the project's bindep
file lists (all its profiles, so one chroot per suite serves every sdist); changing the bindep
file makes a new chroot.

Each compile is one run of `uv build` in a fresh overlay of that chroot, with the host's uv
bound in, the index URL of this machine's pip configuration, and SOURCE_DATE_EPOCH from the
lock: the build requirements come from the index, the system libraries from the suite only.
"""

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
export HOME=/root UV_CACHE_DIR=/tmp/uv-cache UV_PYTHON_DOWNLOADS=never SOURCE_DATE_EPOCH={epoch}
/stackdeb/bin/uv build --no-config --quiet --wheel --python /usr/bin/python{python} \\
    --index-url {index} --out-dir /stackdeb/out /stackdeb/sdist/{sdist}
"""


def compile_chroot(project: Project, suite: Suite) -> Chroot:
    """The suite's compile chroot: the base packages and everything the bindep file names."""
    packages = bindep.all_packages(project.bindep_path)
    return Chroot(project.chroot_dir, suite, "compile", sorted({*BASE_PACKAGES, *packages}))


class Compiler:
    """Compiles sdists for one suite, once each: the result is recorded in the wheel cache
    under `build_id` (the suite's Python ABI and codename)."""

    def __init__(self, project: Project, suite: Suite, build_id: str, index_url: str, source_date_epoch: int):
        self.project, self.suite, self.build_id = project, suite, build_id
        self.index_url, self.epoch = index_url, source_date_epoch
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
        with tempfile.TemporaryDirectory(dir=cache.incoming) as out:
            script = COMPILE_SCRIPT.format(epoch=self.epoch, python=self.suite.python,
                                           index=shlex.quote(self.index_url), sdist=shlex.quote(sdist.name))
            run_in_chroot(self.chroot.rootfs, self.chroot.scratch, script, network=True,
                          binds=[Bind(Path(uv), "/stackdeb/bin/uv"), Bind(sdist.parent, "/stackdeb/sdist"),
                                 Bind(Path(out), "/stackdeb/out", read_only=False)],
                          what=f"the sdist {sdist.name} in the {self.suite.codename} compile chroot",
                          fix="usually a missing system package: add it for this project to "
                              "requirements-bundles/bindep.txt (profile named after the project)",
                          action=f"compiling {sdist.name}")
            built = list(Path(out).glob("*.whl"))
            if len(built) != 1:
                raise StackdebError(f"compiling {sdist.name} gave {len(built)} wheels instead of one")
            wheel = cache.store(built[0], sha256_file(built[0]), built[0].name, None)
        cache.record_compiled(self.build_id, sdist.parent.name, wheel)
        return wheel
