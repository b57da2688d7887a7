"""bindep: which Debian packages a set of profiles needs that are not installed."""

from pathlib import Path

from builders import tools


def missing_packages(bindep_file: Path, profiles: list[str]) -> list[str]:
    result = tools.run("bindep", ["--brief", "--file", str(bindep_file), *profiles],
                       what=str(bindep_file), fix="check the bindep file's syntax", ok_codes=(0, 1))
    return sorted(set(result.stdout.split()))
