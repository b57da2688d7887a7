"""lintian's name filters (builders/lintian-include): the same tags as plain lintian, in the
suite's real chroot, on a package that embeds what the filtered checks look for."""

import subprocess
from pathlib import Path

import pytest

from builders.chroot import build_chroot
from builders.lint import run_lintian
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
    deb = root / "judge/embeds_1.0-1_all.deb"
    deb.parent.mkdir()
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)
    return deb


def tags(report: Path) -> list[str]:
    return sorted(line for line in report.read_text().splitlines() if line[1:3] == ": ")


def test_the_suites_lintian_is_the_one_the_filters_were_read_from(chroot):
    assert lintian.filters_apply(chroot.rootfs), (
        "the chroot's lintian checks differ from the ones builders/tools/lintian.NAME_FILTERS "
        "was read from: read the new checks, and add their digests if every pattern still "
        "needs the fragment its filter looks for")


def test_filtered_lintian_reports_the_same_tags_as_plain_lintian(chroot, embedding_deb):
    every_level = "--tag-display-limit 0 --display-level '>=pedantic' -I -E --pedantic"
    report = embedding_deb.parent / "plain.txt"
    run_in_chroot(chroot.rootfs, chroot.scratch,
                  lintian.command(f"/judge/{embedding_deb.name}", "/judge/plain.txt", args=every_level) + "\n",
                  network=False, binds=[Bind(embedding_deb.parent, "/judge", read_only=False)],
                  what="plain lintian", fix="")
    filtered = embedding_deb.parent / "filtered.txt"
    run_in_chroot(chroot.rootfs, chroot.scratch,
                  lintian.command(f"/judge/{embedding_deb.name}", "/judge/filtered.txt", True, every_level)
                  + "\n", network=False,
                  binds=[Bind(embedding_deb.parent, "/judge", read_only=False),
                         Bind(lintian.NAME_FILTERS_SOURCE, lintian.INCLUDE_DIR)],
                  what="filtered lintian", fix="")
    assert tags(filtered) == tags(report)
    embedded = [line for line in tags(report) if "embedded-" in line]
    for name, (_, provider) in EMBEDDED.items():
        found = [line for line in embedded if f"usr/share/embeds/{name}]" in line]
        assert found == ([] if provider is None else [found[0]]), name
        if provider:
            assert f"please use {provider} " in found[0], found


def test_the_verdict_the_pipeline_keeps_comes_from_the_filtered_run(chroot, embedding_deb):
    report = embedding_deb.parent / "lintian.txt"
    run_lintian(chroot, embedding_deb, report)
    assert "embedded-javascript-library" in report.read_text()     # a warning: shown at >=warning
    assert not list(embedding_deb.parent.glob(".lintian.txt*"))


def test_the_include_dir_replaces_the_stock_check(chroot, embedding_deb, tmp_path):
    """Without this, the comparison above could pass with the filters never loaded."""
    blind = tmp_path / "lintian-include"
    subprocess.run(["cp", "-a", str(lintian.NAME_FILTERS_SOURCE), str(blind)], check=True)
    check = blind / "lib/Lintian/Check/Languages/Javascript/Embedded.pm"
    check.write_text(check.read_text().replace(r"qr{\.(?:js|css)}i", r"qr{\.no-such-name}"))
    run_in_chroot(chroot.rootfs, chroot.scratch,
                  lintian.command(f"/judge/{embedding_deb.name}", "/judge/blind.txt", True) + "\n",
                  network=False, binds=[Bind(embedding_deb.parent, "/judge", read_only=False),
                                        Bind(blind, lintian.INCLUDE_DIR)], what="blinded lintian", fix="")
    report = (embedding_deb.parent / "blind.txt").read_text()
    assert "embedded-php-library" in report and "embedded-javascript-library" not in report
