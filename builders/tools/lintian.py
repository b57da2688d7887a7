"""lintian, run inside the target suite's chroot so the suite's own rules apply."""

import functools
import hashlib
from pathlib import Path

LINTIAN_ARGS = "--fail-on error --tag-display-limit 0 --display-level '>=warning'"

# builders/lintian-include, and where it is bound in the chroot: lintian checks that ask
# lintian's own ones only about the names they can tag (name filters), and file(1)'s verdicts
# kept by content (Stackdeb/FileTypes.pm, in the directory bound at FILE_TYPES).
INCLUDE_SOURCE = Path(__file__).resolve().parent.parent / "lintian-include"
INCLUDE_DIR = "/stackdeb/lintian-include"
FILE_TYPES = "/stackdeb/file-types"

# The lintian sources whose code the include directory's premises were read from (every
# pattern of a filtered check needs the fragment its filter looks for; file(1)'s verdict is
# adjusted by name only for *.gz and *.tfm), by sha256: bookworm's lintian 2.116.3 and trixie's
# 2.122.0. A lintian whose sources differ runs as it is.
VERIFIED_SOURCES = {
    "Check/Languages/Javascript/Embedded.pm": {
        "04c95b96ca6680b266831408d1cc2f44fbd683358f70a60971c965d71c54b340",
        "138f3bf63d0feeb1b368ce377f0b7145ae04b9784bd5d9fa842cbd3427f5fab9"},
    "Check/Languages/Php/Embedded.pm": {"f3b1fcb6fd5e4630828b89bd588bb4c67ae507a536db2b771f561aea8c874a2f"},
    "Check/Languages/Php/Pear/Embedded.pm": {"caa7d46eb43eeae7a11a11d91c415cc75fe5c74e7d4a72071e8e9f8cd05cae2b"},
    "Index/FileTypes.pm": {"7a97db7bbb1ca588a4f2a42c112703648fb9bed2add2d005b97b7d8511430cab"},
}
LINTIAN_LIB = "usr/share/lintian/lib/Lintian"


def include_applies(rootfs: Path) -> bool:
    """Whether the chroot's lintian has exactly the sources the include directory was read from."""
    for source, digests in VERIFIED_SOURCES.items():
        stock = rootfs / LINTIAN_LIB / source
        if not stock.is_file() or hashlib.sha256(stock.read_bytes()).hexdigest() not in digests:
            return False
    return True


@functools.cache
def include_digest() -> str:
    """The include directory's own digest: part of a verdict's key, since it ran to give it."""
    digest = hashlib.sha256()
    for path in sorted(INCLUDE_SOURCE.rglob("*.pm")):
        digest.update(str(path.relative_to(INCLUDE_SOURCE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def command(debs: str, report: str, included: bool = False, args: str = LINTIAN_ARGS) -> str:
    """A shell line for the build chroot: lint `debs`, write `report` and lintian's exit status
    to <report>.status (so that lintian failing is never read as a clean verdict). `included`:
    with builders/lintian-include, and file(1)'s kept verdicts in FILE_TYPES."""
    include = (f"STACKDEB_FILE_TYPES={FILE_TYPES} PERL5LIB={INCLUDE_DIR}/lib PERL5OPT=-MStackdeb::FileTypes "
               f"lintian --include-dir {INCLUDE_DIR}" if included else "lintian")
    return (f"status=0; {include} {args} {debs} > {report} 2>&1 || status=$?; "
            f"echo $status > {report}.status")
