import pytest

from builders.errors import StackdebError
from builders.lockfile import closures, parse_lock, unhashed

LOCK = """\
# header
alpha-svc==1.0.0 \\
    --hash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    # via -r services/alpha.in
libone==1.0.0 \\
    --hash=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb \\
    --hash=sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
    # via
    #   -c constraints.txt
    #   alpha-svc
    #   beta-svc
Lib.Two==0.5.0 \\
    --hash=sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
    # via beta-svc
beta-svc==2.0.0 \\
    --hash=sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
    # via -r services/beta.in
libthree==3.0.0 \\
    --hash=sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
    # via -r services/alpha.in
"""


def test_pins_hashes_and_annotations_are_parsed():
    pins = parse_lock(LOCK)
    assert set(pins) == {"alpha-svc", "libone", "lib-two", "beta-svc", "libthree"}
    assert len(pins["libone"].hashes) == 2
    assert pins["libone"].via == ["-c constraints.txt", "alpha-svc", "beta-svc"]
    assert pins["lib-two"].via == ["beta-svc"]
    assert unhashed(pins) == []


def test_closures_follow_the_dependency_edges_from_each_service():
    result = closures(parse_lock(LOCK), ["alpha", "beta"])
    assert result["alpha"] == ["alpha-svc==1.0.0", "libone==1.0.0", "libthree==3.0.0"]
    assert result["beta"] == ["beta-svc==2.0.0", "lib-two==0.5.0", "libone==1.0.0"]


def test_a_pin_without_hash_is_found():
    assert unhashed(parse_lock("foo==1.0\n")) == ["foo==1.0"]


def test_a_malformed_pin_is_an_error():
    with pytest.raises(StackdebError, match="lock line 1: malformed pin 'foo>=1'"):
        parse_lock("foo>=1\n")
