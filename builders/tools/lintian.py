"""lintian, run inside the target suite's chroot so the suite's own rules apply."""

LINTIAN_ARGS = "--fail-on error --tag-display-limit 0 --display-level '>=warning'"


def command(debs: str, report: str) -> str:
    """A shell line for the build chroot: lint `debs`, write `report`, keep the exit status."""
    return f"lintian {LINTIAN_ARGS} {debs} > {report} 2>&1"
