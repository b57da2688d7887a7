import hashlib

import pytest

from builders.errors import StackdebError
from builders.wheelcache import WheelCache, copy_verified


def incoming(cache, data):
    tmp = cache.incoming / "download.tmp"
    tmp.write_bytes(data)
    return tmp, hashlib.sha256(data).hexdigest()


def test_files_are_stored_under_their_digest_and_found_again(tmp_path):
    cache = WheelCache(tmp_path)
    tmp, digest = incoming(cache, b"wheel bytes")
    stored = cache.store(tmp, digest, "pkg-1.0-py3-none-any.whl", digest)
    assert stored == cache.path(digest, "pkg-1.0-py3-none-any.whl")
    assert cache.lookup(digest) == stored
    assert copy_verified(stored, tmp_path / "copy.whl") == digest
    assert (tmp_path / "copy.whl").read_bytes() == b"wheel bytes"


def test_a_hash_mismatch_stores_nothing(tmp_path):
    cache = WheelCache(tmp_path)
    tmp, digest = incoming(cache, b"tampered bytes")
    with pytest.raises(StackdebError, match="hash mismatch for pkg.whl: the lock expects sha256 0+"):
        cache.store(tmp, digest, "pkg.whl", "0" * 64)
    assert not tmp.exists()
    assert cache.lookup(digest) is None and cache.lookup("0" * 64) is None


def test_a_cached_file_changed_behind_the_caches_back_is_found(tmp_path):
    cache = WheelCache(tmp_path)
    tmp, digest = incoming(cache, b"original")
    stored = cache.store(tmp, digest, "pkg.whl", digest)
    stored.chmod(0o644)
    stored.write_bytes(b"changed")
    with pytest.raises(StackdebError, match="hash mismatch in the wheel cache"):
        copy_verified(stored, tmp_path / "copy.whl")
    assert not (tmp_path / "copy.whl").exists()


def test_compiled_wheels_are_recorded_against_their_sdist(tmp_path):
    cache = WheelCache(tmp_path)
    tmp, digest = incoming(cache, b"built wheel")
    wheel = cache.store(tmp, digest, "pkg-1.0-cp311-cp311-linux_x86_64.whl", None)
    assert cache.compiled("cp311-bookworm", "a" * 64) is None
    cache.record_compiled("cp311-bookworm", "a" * 64, wheel)
    assert cache.compiled("cp311-bookworm", "a" * 64) == wheel
    assert cache.compiled("cp313-trixie", "a" * 64) is None
