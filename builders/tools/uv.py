"""uv: the fast resolver (`uv pip compile`); builders/compiler.py runs its `uv build` in a chroot."""

import functools
import re
from pathlib import Path

from builders import tools
from builders.errors import StackdebError

# uv reads no pip.conf, but it does read its own configuration and UV_* variables: keep the
# machine's uv settings out so the index given here is the only one.
_ISOLATED = {"UV_INDEX_URL": None, "UV_EXTRA_INDEX_URL": None, "UV_FIND_LINKS": None,
             "UV_DEFAULT_INDEX": None, "UV_INDEX": None, "UV_NO_INDEX": None}


def pip_compile(workdir: Path, inputs: list[str], constraints: str, output: str, *,
                python: str, platform: str, index_url: str, what: str) -> None:
    tools.run("uv", [
        # --refresh: a release published minutes ago must be seen, not uv's cached page
        "pip", "compile", "--no-config", "--quiet", "--refresh", "--generate-hashes", "--no-header",
        "--annotation-style", "split", "--strip-extras",
        "--python-version", python, "--python-platform", platform,
        "--index-url", index_url, "-c", constraints, "-o", output, *inputs,
    ], cwd=workdir, env=_ISOLATED, what=what,
        fix="a constraint conflict or an unknown requirement: read uv's explanation above, then "
            "fix the release's overrides.yaml or the catalog's extra_requirements")


@functools.cache
def manylinux_minors() -> frozenset[int]:
    """The x86_64 manylinux_2_N platforms this uv resolves for (its help lists them): each uv
    release knows glibc versions up to some point, and a newer suite's own must not be asked."""
    usage = tools.run("uv", ["pip", "compile", "--help"], what="uv", fix="run ./bootstrap.sh").stdout
    return frozenset(int(m) for m in re.findall(r"\bx86_64-manylinux_2_(\d+)\b", usage))


def resolver_platform(glibc: tuple[int, int]) -> str:
    """The best platform uv accepts whose wheels run on this glibc (a manylinux_2_40 wheel runs
    on glibc 2.41; the other way round it does not)."""
    major, minor = glibc
    known = [m for m in manylinux_minors() if m <= minor] if major == 2 else []
    if not known:
        raise StackdebError(f"this uv resolves for no manylinux platform up to glibc {major}.{minor}",
                                  hint="upgrade uv in the project's virtualenv (./bootstrap.sh)")
    return f"x86_64-manylinux_{major}_{max(known)}"
