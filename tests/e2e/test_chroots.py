"""The build chroots of both supported suites, made from this machine's apt sources."""

import pytest

from builders.chroot import build_chroot
from builders.project import Project
from builders.targets import get_suite
from builders.tools.namespace import run_in_chroot

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_the_build_chroot_has_the_suites_python_and_dh_virtualenv_and_no_network(suite):
    chroot = build_chroot(Project.from_env().chroot_dir, get_suite(suite))
    chroot.ensure()
    assert chroot.tarball.exists()
    out = run_in_chroot(chroot.rootfs, chroot.scratch,
                        ". /etc/os-release; echo $VERSION_CODENAME; python3 --version; "
                        "dpkg-query -W -f='${Status}\\n' dh-virtualenv lintian; "
                        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
                        binds=[], what=f"the {suite} chroot", fix="")
    lines = out.split()
    assert lines[0] == suite
    assert f"Python {get_suite(suite).python}." in out
    assert out.count("install ok installed") == 2
    assert lines[-1] == "lo"
