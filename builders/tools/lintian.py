"""lintian, run inside the target suite's chroot so the suite's own rules apply."""

import hashlib
from pathlib import Path

LINTIAN_ARGS = "--fail-on error --tag-display-limit 0 --display-level '>=warning'"

# Where the name filters are seen inside the chroot (builders/lintian-include, bound there).
INCLUDE_DIR = "/stackdeb/lintian-include"
NAME_FILTERS_SOURCE = Path(__file__).resolve().parent.parent / "lintian-include"

# lintian's checks that builders/lintian-include asks only about names that can match their
# patterns, each with the sha256 of every stock source the premise was read from (every
# pattern needs the fragment the filter looks for): bookworm's 2.116.3 and trixie's 2.122.0.
# A lintian whose check differs runs as it is, without the filters.
NAME_FILTERS = {
    "Languages/Javascript/Embedded.pm": {
        "04c95b96ca6680b266831408d1cc2f44fbd683358f70a60971c965d71c54b340",
        "138f3bf63d0feeb1b368ce377f0b7145ae04b9784bd5d9fa842cbd3427f5fab9"},
    "Languages/Php/Embedded.pm": {"f3b1fcb6fd5e4630828b89bd588bb4c67ae507a536db2b771f561aea8c874a2f"},
    "Languages/Php/Pear/Embedded.pm": {"caa7d46eb43eeae7a11a11d91c415cc75fe5c74e7d4a72071e8e9f8cd05cae2b"},
}
STOCK_CHECKS = "usr/share/lintian/lib/Lintian/Check"


def filters_apply(rootfs: Path) -> bool:
    """Whether the chroot's lintian has exactly the checks the name filters were read from."""
    for check, digests in NAME_FILTERS.items():
        stock = rootfs / STOCK_CHECKS / check
        if not stock.is_file() or hashlib.sha256(stock.read_bytes()).hexdigest() not in digests:
            return False
    return True


def filters_digest() -> str:
    """The name filters' own digest: part of a verdict's key, since they ran to give it."""
    digest = hashlib.sha256()
    for path in sorted(NAME_FILTERS_SOURCE.rglob("*.pm")):
        digest.update(str(path.relative_to(NAME_FILTERS_SOURCE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def command(debs: str, report: str, filtered: bool = False, args: str = LINTIAN_ARGS) -> str:
    """A shell line for the build chroot: lint `debs`, write `report` and lintian's exit status
    to <report>.status (so that lintian failing is never read as a clean verdict)."""
    include = f"--include-dir {INCLUDE_DIR} " if filtered else ""
    return (f"status=0; lintian {include}{args} {debs} > {report} 2>&1 || status=$?; "
            f"echo $status > {report}.status")
