"""reprepro, on one repository generation (a base directory of its own)."""

from pathlib import Path

from builders import tools


def _run(basedir: Path, args: list[str], what: str, gnupg_home: Path):
    return tools.run("reprepro", ["--silent", "--basedir", str(basedir), *args],
                     env={"GNUPGHOME": str(gnupg_home)}, what=what,
                     fix="read reprepro's message above; the live repository was not changed")


def includedeb(basedir: Path, codename: str, debs: list[Path], gnupg_home: Path) -> None:
    _run(basedir, ["includedeb", codename, *map(str, debs)], f"the build set for {codename}", gnupg_home)


def copy(basedir: Path, dest: str, source: str, packages: list[str], gnupg_home: Path) -> None:
    _run(basedir, ["copy", dest, source, *packages], f"promotion {source} -> {dest}", gnupg_home)


def export(basedir: Path, gnupg_home: Path, codenames: list[str]) -> None:
    """Write the indexes of these distributions only: the others keep their files."""
    _run(basedir, ["export", *codenames], f"the indexes of {', '.join(codenames)}", gnupg_home)


def remove_all(basedir: Path, codename: str, gnupg_home: Path) -> None:
    """Empty one distribution (its pool files go when nothing else references them)."""
    _run(basedir, ["removematched", codename, "*"], f"emptying {codename}", gnupg_home)


def list_packages(basedir: Path, codename: str, gnupg_home: Path) -> dict[str, str]:
    """package -> version in one distribution."""
    out = tools.run("reprepro", ["--basedir", str(basedir), "list", codename],
                    env={"GNUPGHOME": str(gnupg_home)}, what=codename, fix="").stdout
    listed = {}
    for line in out.splitlines():
        _, rest = line.split(": ", 1)
        name, version = rest.split()[:2]
        listed[name] = version
    return listed
