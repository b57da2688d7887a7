"""Run a script inside a chroot, in new mount, pid, uts and (by default) network namespaces.

The chroot is an overlay over a pristine root filesystem: every run starts clean and leaves
the root untouched. With `network=False` the namespace has no interface but a down loopback,
so nothing inside can reach the network; that is how builds are proven offline.
"""

import shlex
from dataclasses import dataclass
from pathlib import Path

from builders import outputs, tools

CLEAN_ENV = "PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8 TZ=UTC"


@dataclass(frozen=True)
class Bind:
    host: Path
    inside: str
    read_only: bool = True


def _setup(rootfs: Path, upper: Path, work: Path, merged: Path, binds: list[Bind]) -> list[str]:
    q = shlex.quote
    lines = [
        f"mount -t overlay overlay -o lowerdir={q(str(rootfs))},upperdir={q(str(upper))},"
        f"workdir={q(str(work))} {q(str(merged))}",
        f"mount -t proc proc {q(str(merged / 'proc'))}",
        f"mount -t tmpfs tmpfs {q(str(merged / 'tmp'))}",
        f"mount -t tmpfs tmpfs {q(str(merged / 'dev/shm'))}",
        "hostname stackdeb-build",
    ]
    for bind in binds:
        target = q(str(merged) + bind.inside)
        parent = q(str(merged) + bind.inside.rsplit("/", 1)[0])
        make = f"mkdir -p {target}" if bind.host.is_dir() else f"mkdir -p {parent} && touch {target}"
        lines += [make, f"mount --bind {q(str(bind.host))} {target}"]
        if bind.read_only:
            lines.append(f"mount -o remount,bind,ro {target}")
    return lines


def run_in_chroot(rootfs: Path, scratch_parent: Path, script: str, *, binds: list[Bind],
                  network: bool = False, what: str, fix: str, action: str = "the chroot script") -> str:
    """Run `script` (sh) as root inside the chroot; return its output."""
    with outputs.scratch(scratch_parent, "run-") as scratch:
        upper, work, merged = (scratch / n for n in ("upper", "work", "merged"))
        for folder in (upper, work, merged):
            folder.mkdir()
        (scratch / "control").mkdir()
        (scratch / "control/script.sh").write_text(script)
        binds = [*binds, Bind(scratch / "control", "/.stackdeb")]
        if network:
            binds.append(Bind(Path("/etc/resolv.conf"), "/etc/resolv.conf"))
        outer = _setup(rootfs, upper, work, merged, binds) + [
            f"exec chroot {shlex.quote(str(merged))} /usr/bin/env -i {CLEAN_ENV} "
            "sh -e /.stackdeb/script.sh"]
        # A killed stackdeb must not leave a build writing on: unshare dies with it
        # (tools.dies_with_stackdeb), and --kill-child takes the pid namespace along.
        flags = ["--mount", "--pid", "--fork", "--kill-child", "--uts", "--ipc", "--propagation", "private"]
        if not network:
            flags.append("--net")
        result = tools.run("unshare", [*flags, "sh", "-ec", "\n".join(outer)], what=what, fix=fix,
                           action=action)
        return result.stdout

