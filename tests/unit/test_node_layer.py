"""The node image's cached layer: what diskimage-builder is told to give mmdebstrap."""

import shlex
from pathlib import Path

from builders.images import node_bootstrap, node_debian_packages
from builders.project import Project

LINES = ["deb http://archive.test/debian trixie main", "deb http://archive.test/debian trixie-updates main",
         "deb http://security.test/debian-security trixie-security main"]


def mmdebstrap_args(settings: dict) -> list[str]:
    """The arguments as the sh that diskimage-builder hands the text to will split them."""
    return shlex.split(settings["DIB_MMDEBSTRAP_EXTRA_ARGS"])


def test_the_layer_is_made_from_the_updates_and_security_sources_too():
    setup, = [a for a in mmdebstrap_args(node_bootstrap(Path("/cache"), LINES)) if a.startswith("--setup-hook=")]
    assert shlex.split(setup.removeprefix("--setup-hook=")) == [
        "printf", "%s\\n", LINES[1], LINES[2], ">>", "$1/etc/apt/sources.list"]


def test_base_packages_come_with_recommends_and_the_node_packages_without():
    extra = node_debian_packages(Project.from_env(), "trixie")
    hooks = [a.removeprefix("--customize-hook=")
             for a in mmdebstrap_args(node_bootstrap(Path("/cache"), LINES, extra)) if a.startswith("--customize-hook=")]
    base, node = (shlex.split(hook) for hook in hooks)
    assert base[:6] == ["chroot", "$1", "apt-get", "install", "--yes", "--install-recommends"]
    assert {"systemd-sysv", "python3", "gnupg2", "sudo", "busybox"} == set(base[6:])
    assert node[:6] == ["chroot", "$1", "apt-get", "install", "--yes", "--no-install-recommends"]
    assert {"linux-image-amd64", "open-iscsi", "curl"} <= set(node[6:])
    # what a node installs from Debian in a cluster run is in the layer: infrastructure, the
    # services' runtime packages and the libpython of the suite the venvs link to
    assert {"mariadb-server", "memcached", "rabbitmq-server", "qemu-utils", "libpython3.13"} <= set(node[6:])


def test_a_layer_made_from_other_sources_is_cached_apart():
    here = node_bootstrap(Path("/cache"), LINES)["DIB_IMAGE_CACHE"]
    elsewhere = node_bootstrap(Path("/cache"), [line.replace("archive.test", "mirror.test") for line in LINES])
    assert here.startswith("/cache/dib/") and here != elsewhere["DIB_IMAGE_CACHE"]
