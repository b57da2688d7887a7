"""Clean chroots of a target suite: created once with mmdebstrap, cached as a tarball.

    <chroots>/<suite>-<purpose>-<digest>.tar     what mmdebstrap made
    <chroots>/<suite>-<purpose>-<digest>/        the same, extracted (read-only lower layer
                                                 of every run's overlay)
<chroots> is $STACKDEB_CHROOT_DIR, or chroots/ in the cache.

The digest covers the suite and the package list, so changing either makes a new chroot.
"""

import os
import shutil
import tempfile
from pathlib import Path

from builders import log, tools
from builders.aptsources import machine_mirrors
from builders.errors import StackdebError
from builders.filelock import exclusive
from builders.manifest import sha256_json
from builders.targets import Suite
from builders.tools import mmdebstrap

# python3-dev and libxml2: the runtime libraries compiled wheels (uwsgi) link, so that
# dpkg-shlibdeps can name the packages providing them in Depends.
BUILD_PACKAGES = ["build-essential", "debhelper", "dh-virtualenv", "libxml2", "lintian", "python3",
                  "python3-dev", "python3-venv"]
RUNTIME_PACKAGES = ["curl", "iproute2", "python3"]


class Chroot:
    def __init__(self, chroot_dir: Path, suite: Suite, purpose: str, packages: list[str]):
        self.suite = suite
        self.packages = sorted(packages)
        digest = sha256_json({"suite": suite.codename, "packages": self.packages})[:12]
        self.name = f"{suite.codename}-{purpose}-{digest}"
        self.base = chroot_dir
        self.tarball = self.base / f"{self.name}.tar"
        self.rootfs = self.base / self.name
        self.scratch = self.base / "scratch"

    def ensure(self) -> Path:
        """The extracted root filesystem, creating the tarball and extracting it if needed.
        Builds of several services may start at once: one creates, the others wait."""
        with exclusive(self.base / f".{self.name}.lock"):
            if not self.tarball.exists():
                self._create()
            if not (self.rootfs / ".stackdeb-complete").exists():
                self._extract()
        return self.rootfs

    def _create(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        log.info(f"creating the {self.name} chroot (once; cached as {self.tarball.name})")
        fd, tmp = tempfile.mkstemp(dir=self.base, prefix=f".{self.name}.", suffix=".tar")
        os.close(fd)
        try:
            mmdebstrap.create_tarball(self.suite.codename, Path(tmp), self.packages,
                                      machine_mirrors().lines(self.suite.codename))
            os.replace(tmp, self.tarball)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _extract(self) -> None:
        shutil.rmtree(self.rootfs, ignore_errors=True)
        partial = self.rootfs.with_name(f".{self.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            tools.run("tar", ["--extract", "--numeric-owner", "--file", str(self.tarball),
                              "--directory", str(partial)],
                      what=str(self.tarball), fix=f"delete {self.tarball} to have it made again")
        except StackdebError:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        (partial / ".stackdeb-complete").touch()
        os.replace(partial, self.rootfs)


def build_chroot(chroot_dir: Path, suite: Suite) -> Chroot:
    return Chroot(chroot_dir, suite, "build", BUILD_PACKAGES)


def runtime_chroot(chroot_dir: Path, suite: Suite) -> Chroot:
    """A minimal system of the suite to install packages into, as apt users would."""
    return Chroot(chroot_dir, suite, "runtime", RUNTIME_PACKAGES)
