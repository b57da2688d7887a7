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
