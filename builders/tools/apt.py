"""apt-get on the build host (only to install declared build dependencies, when asked)."""

from builders import tools


def install(packages: list[str], why: str) -> None:
    tools.run("apt-get", ["install", "-y", "--no-install-recommends", *packages],
              env={"DEBIAN_FRONTEND": "noninteractive"}, what=why,
              fix="run as root, after apt-get update; check the package names in bindep.txt")
