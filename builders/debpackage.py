"""The wheelhouse as one binary package, openstack-wheels-<release>, under /usr/share.

Built with dpkg-deb from a staged tree (hard links into the wheelhouse): the payload is
data, no maintainer scripts, so debhelper adds nothing here. Reproducible: fixed mtimes
(SOURCE_DATE_EPOCH from the lock), sorted entries, gzip -n for the changelog.
"""

import gzip
import hashlib
import io
import os
import shutil
import tempfile
from email.utils import formatdate
from pathlib import Path

from debian.deb822 import Deb822

from builders.manifest import link_or_copy
from builders.tools import dpkg_deb

MAINTAINER = os.environ.get("STACKDEB_MAINTAINER", "stackdeb release engineering <release@stackdeb.invalid>")


def wheels_package_name(release: str) -> str:
    return f"openstack-wheels-{release}"


def wheels_package_version(release: str, generation: int, suite_version: str) -> str:
    """Upgrades in lock generation order; the suite marker keeps suites apart in one pool and
    sorts an older suite's build below a newer one's."""
    return f"{release}+deb{suite_version}.{generation}"


def install_dir(release: str) -> str:
    return f"usr/share/openstack-wheels/{release}"


def _copyright(package: str) -> str:
    return (f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            f"Upstream-Name: {package}\n\n"
            "Files: *\nCopyright: the authors of each wheel\n"
            "License: various\n This package collects Python wheels as published by their authors\n"
            " or compiled unchanged from their sdists; each wheel carries its own license\n"
            " in its .dist-info directory.\n")


def _changelog(package: str, version: str, suite: str, epoch: int, pins: int) -> bytes:
    text = (f"{package} ({version}) {suite}; urgency=medium\n\n"
            f"  * Wheel bundle of {pins} locked artifacts.\n\n"
            f" -- {MAINTAINER}  {formatdate(epoch, localtime=False, usegmt=False)}\n")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9, filename="") as stream:
        stream.write(text.encode())
    return buffer.getvalue()


def _stage_tree(root: Path, wheelhouse: Path, release: str) -> None:
    dest = root / install_dir(release)
    dest.parent.mkdir(parents=True)
    shutil.copytree(wheelhouse, dest, copy_function=link_or_copy)


def _md5sums(root: Path) -> str:
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "DEBIAN" not in p.parts):
        digest = hashlib.md5(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(root)}\n")
    return "".join(lines)


def _fix_metadata(root: Path, epoch: int) -> None:
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        os.utime(path, (epoch, epoch), follow_symlinks=False)


def build_wheels_deb(wheelhouse: Path, out_dir: Path, target) -> Path:
    release, suite = target.release, target.suite
    package = wheels_package_name(release)
    version = wheels_package_version(release, target.manifest["generation"], suite.version)
    epoch = target.manifest["source_date_epoch"]
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        root = Path(scratch) / "root"
        _stage_tree(root, wheelhouse, release)
        doc = root / "usr/share/doc" / package
        doc.mkdir(parents=True)
        (doc / "copyright").write_text(_copyright(package))
        (doc / "changelog.Debian.gz").write_bytes(
            _changelog(package, version, suite.codename, epoch, len(target.pins)))
        installed_kb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) // 1024 + 1
        control = Deb822()
        control["Package"] = package
        control["Version"] = version
        control["Architecture"] = "amd64"
        control["Maintainer"] = MAINTAINER
        control["Installed-Size"] = str(installed_kb)
        control["Section"] = "python"
        control["Priority"] = "optional"
        control["Description"] = (
            f"OpenStack {release} wheels for Debian {suite.codename}\n"
            f" Every Python wheel the stackdeb venv packages of OpenStack {release} install,\n"
            f" hash-pinned, with a PEP 503 index under /{install_dir(release)}/simple.")
        (root / "DEBIAN").mkdir()
        (root / "DEBIAN/control").write_text(str(control).rstrip("\n") + "\n")
        (root / "DEBIAN/md5sums").write_text(_md5sums(root))
        _fix_metadata(root, epoch)
        output = out_dir / f"{package}_{version}_amd64.deb"
        # Wheels are zip archives already: xz saved 0.2 % over gzip here and cost 3.3 CPU-s
        # to unpack in every venv build that installs the bundle (docs/benchmarks.md).
        dpkg_deb.build(root, output, source_date_epoch=epoch, compression="gzip", level=6)
    return output
