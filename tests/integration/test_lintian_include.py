"""builders/lintian-include: the same tags as plain lintian, in the suite's real chroot, on a
package that embeds what the filtered checks look for, with file(1)'s verdicts kept or not."""

import hashlib
import subprocess
from pathlib import Path

import pytest

from builders.chroot import build_chroot
from builders.lint import include_binds, run_lintian
from builders.project import Project
from builders.targets import get_suite
from builders.tools import lintian
from builders.tools.namespace import Bind, run_in_chroot

# name in the package: (content, the provider lintian names, or None for a look-alike)
EMBEDDED = {
    "static/jquery.min.js": ("/*! jQuery v3.6.0 */\n", "libjs-jquery"),
    "static/JQuery-3.6.0.JS": ("/*! jQuery */\n", "libjs-jquery"),
    "static/bootstrap.min.css": ("var Carousel = 1;\n", "libjs-bootstrap"),
    "static/normalize.css": ("html { line-height: 1.15; }\n", "libjs-normalize"),
    "_static/doctools.js": ("var Documentation = {};\n", "sphinx"),
    "php/geshi.php": ("<?php echo 1; ?>\n", "php-geshi"),
    "php/phpsysinfo.dtd": ("<!ELEMENT x ANY>\n", "phpsysinfo"),
    "pear/Auth.php": ("<?php require_once 'pear/Auth.php'; ?>\n", "php-auth"),
    "static/jquery.py": ("JQUERY = 1\n", None),
    "php/geshi.txt": ("geshi\n", None),
}
# Not UTF-8: file(1) says text, so lintian reads it and tags its encoding.
LATIN1 = ("notes/latin1.txt", b"caf\xe9 cr\xe8me\n")


@pytest.fixture(scope="module")
def chroot():
    chroot = build_chroot(Project.from_env().chroot_dir, get_suite("bookworm"))
    chroot.ensure()
    return chroot


@pytest.fixture(scope="module")
def embedding_deb(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("deb")
    tree = root / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        "Package: embeds\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Test <test@localhost>\n"
        "Description: embeds libraries lintian knows\n a test package\n")
    for name, (content, _) in EMBEDDED.items():
        path = tree / "usr/share/embeds" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (tree / "usr/share/embeds" / LATIN1[0]).parent.mkdir()
    (tree / "usr/share/embeds" / LATIN1[0]).write_bytes(LATIN1[1])
    deb = root / "judge/embeds_1.0-1_all.deb"
    deb.parent.mkdir()
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)
    return deb


EVERY_LEVEL = "--tag-display-limit 0 --display-level '>=pedantic' -I -E --pedantic"


def lint(chroot, deb: Path, report: str, binds: list[Bind] = (), args: str = EVERY_LEVEL) -> str:
    """lintian's report on `deb`, with builders/lintian-include if `binds` bind it."""
    run_in_chroot(chroot.rootfs, chroot.scratch,
                  lintian.command(f"/judge/{deb.name}", f"/judge/{report}", bool(binds), args) + "\n",
                  network=False, binds=[Bind(deb.parent, "/judge", read_only=False), *binds],
                  what=report, fix="")
    return (deb.parent / report).read_text()


def tag_lines(report: str) -> list[str]:
    return sorted(line for line in report.splitlines() if line[1:3] == ": ")


def test_the_suites_lintian_is_the_one_the_include_was_read_from(chroot):
    assert lintian.include_applies(chroot.rootfs), (
        "the chroot's lintian sources differ from the ones builders/tools/lintian.VERIFIED_SOURCES "
        "were read from: read the new ones, and add their digests if the premises still hold")


def test_included_lintian_reports_the_same_tags_as_plain_lintian_file_types_kept_or_not(
        chroot, embedding_deb, tmp_path):
    plain = tag_lines(lint(chroot, embedding_deb, "plain.txt"))
    binds = include_binds(tmp_path / "file-types")
    assert tag_lines(lint(chroot, embedding_deb, "first.txt", binds)) == plain     # file(1) asked
    kept = sorted((tmp_path / "file-types").glob("*.types"))       # one per index: payload, control
    assert sum(path.read_bytes().count(b"\0") for path in kept) == 2 * (len(EMBEDDED) + 2)
    assert tag_lines(lint(chroot, embedding_deb, "again.txt", binds)) == plain     # its verdicts kept
    assert sorted((tmp_path / "file-types").glob("*.types")) == kept               # nothing new to keep
    embedded = [line for line in plain if "embedded-" in line]
    for name, (_, provider) in EMBEDDED.items():
        found = [line for line in embedded if f"usr/share/embeds/{name}]" in line]
        assert found == ([] if provider is None else [found[0]]), name
        if provider:
            assert f"please use {provider} " in found[0], found


def test_the_verdict_the_pipeline_keeps_comes_from_the_filtered_run(chroot, embedding_deb):
    report = embedding_deb.parent / "lintian.txt"
    run_lintian(Project.from_env(), chroot, embedding_deb, report, lintian.include_applies(chroot.rootfs))
    assert "embedded-javascript-library" in report.read_text()     # a warning: shown at >=warning
    assert not list(embedding_deb.parent.glob(".lintian.txt*"))


def test_the_include_replaces_the_stock_check_and_file_type(chroot, embedding_deb, tmp_path):
    """Without this, the comparison above could pass with the include never loaded."""
    blind = tmp_path / "lintian-include"
    subprocess.run(["cp", "-a", str(lintian.INCLUDE_SOURCE), str(blind)], check=True)
    check = blind / "lib/Lintian/Check/Languages/Javascript/Embedded.pm"
    check.write_text(check.read_text().replace(r"qr{\.(?:js|css)}i", r"qr{\.no-such-name}"))
    # a kept verdict is believed: the Latin-1 text file said to be data is not read for its encoding
    file_types = tmp_path / "file-types"
    file_types.mkdir()
    (file_types / "planted.types").write_bytes(f"{hashlib.sha256(LATIN1[1]).hexdigest()}\0data\0".encode())
    report = lint(chroot, embedding_deb, "blind.txt",
                  [Bind(blind, lintian.INCLUDE_DIR), Bind(file_types, lintian.FILE_TYPES, read_only=False)])
    assert "embedded-php-library" in report and "embedded-javascript-library" not in report
    plain = lint(chroot, embedding_deb, "plain.txt")
    assert f"national-encoding [usr/share/embeds/{LATIN1[0]}]" in plain
    assert "national-encoding" not in report
