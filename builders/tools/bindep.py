"""bindep: the Debian packages a bindep file names."""

from pathlib import Path

from builders import tools


def all_packages(bindep_file: Path) -> list[str]:
    """Every package the file names for a dpkg platform, under every profile it defines."""
    listed = tools.run("bindep", ["--profiles", "--file", str(bindep_file)],
                       what=str(bindep_file), fix="check the bindep file's syntax").stdout
    profiles = listed.split("Configuration profiles:", 1)[-1].split() if "Configuration profiles:" in listed else []
    result = tools.run("bindep", ["--list_all", "newline", "--file", str(bindep_file), *profiles],
                       what=str(bindep_file), fix="check the bindep file's syntax", ok_codes=(0, 1))
    return sorted(set(result.stdout.split()))
