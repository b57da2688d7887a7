import pytest
from packaging.tags import Tag

from builders.bundle import choose_file, supported_tags
from builders.errors import StackdebError
from builders.index import IndexFile
from builders.lockfile import Pin
from builders.targets import get_suite

BOOKWORM = get_suite("bookworm")
RANKS = {tag: i for i, tag in enumerate(supported_tags(BOOKWORM))}


def files(*names):
    return [IndexFile(name, f"http://127.0.0.1/{name}", f"{i:064x}") for i, name in enumerate(names, 1)]


def pin_for(candidates):
    return Pin("pkg", "1.0", [f.sha256 for f in candidates])


def test_bookworm_accepts_glibc_up_to_2_36_and_never_newer():
    platforms = BOOKWORM.manylinux_platforms
    assert platforms[0] == "manylinux_2_36_x86_64"
    assert "manylinux2014_x86_64" in platforms
    assert "manylinux_2_39_x86_64" not in platforms
    assert Tag("cp311", "cp311", "manylinux_2_17_x86_64") in RANKS
    assert Tag("cp312", "cp312", "manylinux_2_17_x86_64") not in RANKS


def test_the_best_matching_wheel_wins_over_an_sdist_and_a_pure_wheel():
    candidates = files("pkg-1.0.tar.gz", "pkg-1.0-py3-none-any.whl",
                       "pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                       "pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                       "pkg-1.0-cp311-cp311-manylinux_2_39_x86_64.whl")
    chosen = choose_file(pin_for(candidates), candidates, RANKS)
    assert chosen.filename == "pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


def test_only_files_whose_hash_is_locked_are_considered():
    candidates = files("pkg-1.0-py3-none-any.whl", "pkg-1.0.tar.gz")
    locked_sdist_only = Pin("pkg", "1.0", [candidates[1].sha256])
    assert choose_file(locked_sdist_only, candidates, RANKS).filename == "pkg-1.0.tar.gz"


def test_no_fitting_file_and_no_sdist_is_an_error():
    candidates = files("pkg-1.0-cp313-cp313-manylinux_2_17_x86_64.whl")
    with pytest.raises(StackdebError, match="none of its 1 locked files fits the target"):
        choose_file(pin_for(candidates), candidates, RANKS)


def test_the_resolver_platform_is_the_newest_uv_knows_that_the_suites_glibc_runs(monkeypatch):
    from builders.tools import uv
    monkeypatch.setattr(uv, "manylinux_minors", lambda: frozenset({17, 28, 31, 36, 39, 40}))
    assert uv.resolver_platform(get_suite("bookworm").glibc) == "x86_64-manylinux_2_36"
    # trixie's glibc 2.41 is newer than this uv knows: 2.40 wheels run on it
    assert uv.resolver_platform(get_suite("trixie").glibc) == "x86_64-manylinux_2_40"
    monkeypatch.setattr(uv, "manylinux_minors", lambda: frozenset({40}))
    with pytest.raises(StackdebError, match="no manylinux platform up to glibc 2.36"):
        uv.resolver_platform(get_suite("bookworm").glibc)


def test_the_installed_uv_resolves_for_both_suites():
    from builders.tools import uv
    for suite in ("bookworm", "trixie"):
        assert uv.resolver_platform(get_suite(suite).glibc).startswith("x86_64-manylinux_2_")
