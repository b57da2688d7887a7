"""lintian, run inside the target suite's chroot so the suite's own rules apply."""

LINTIAN_ARGS = "--fail-on error --tag-display-limit 0 --display-level '>=warning'"

# lintian runs its checks one after another on one core. One check costs about half of the
# whole on a venv package (languages/javascript/embedded matches every file's name against
# some sixty patterns, compiled again for each file: 36 of 75 s for venv-keystone), so two
# lintian processes, that check and all the others, give the same tags in about half the time.
SHARES = (["--check-part", "languages/javascript/embedded"],
          ["--dont-check-part", "languages/javascript/embedded"])


def command(debs: str, report: str) -> str:
    """A shell line for the build chroot: lint `debs`, write `report`, keep the exit status."""
    return f"lintian {LINTIAN_ARGS} {debs} > {report} 2>&1"


def shared_commands(deb: str, report_prefix: str) -> list[str]:
    """Shell lines that judge `deb` in SHARES, each writing <report_prefix>.<n> and its exit
    status to <report_prefix>.<n>.status; run them side by side."""
    return [f"lintian {LINTIAN_ARGS} {' '.join(share)} {deb} > {report_prefix}.{n} 2>&1; "
            f"echo $? > {report_prefix}.{n}.status"
            for n, share in enumerate(SHARES)]
