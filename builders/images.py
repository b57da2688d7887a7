"""Stage 5, images: the discovery live system and the node image.

    build/images/discovery-<suite>/     vmlinuz, initrd.img, filesystem.squashfs, boot.ipxe,
                                        manifest.json
    build/images/node-<release>-<suite>/ node.qcow2, node.vmlinuz, node.initrd, manifest.json

The discovery system is an mmdebstrap minbase tree (cached as a tarball per suite and package
list) with the stackdeb-discovery element applied, pruned, and squashed with fixed times, so
the same inputs give the same bytes. The node image is built by diskimage-builder from
elements/ (debian-minimal, baremetal, stackdeb-node).
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

from builders import PROJECT_DIR, log, tools
from builders.aptsources import machine_mirrors
from builders.cluster.layout import INFRASTRUCTURE
from builders.errors import StackdebError
from builders.filelock import exclusive
from builders.manifest import is_current, read_json, sha256_file, sha256_json, write_json
from builders.outputs import replacing, scratch
from builders.project import Project
from builders.targets import Target, get_suite
from builders.tools import dib, mmdebstrap
from builders.yamlload import load_yaml

ELEMENTS = PROJECT_DIR / "elements"

# What the live system does not need: documentation, translations, apt's state, and kernel
# modules for hardware a discovery boot never drives (sound, graphics, cameras, radios).
PRUNE_PATHS = ["boot", "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
               "usr/share/i18n", "usr/share/lintian", "usr/share/bash-completion", "var/cache/apt",
               "var/lib/apt/lists", "var/log", "var/cache/debconf/templates.dat-old",
               "usr/share/zoneinfo/right", "usr/share/zoneinfo/posix",
               # full perl (perl-base stays for debconf) and iconv's charset modules
               "usr/share/perl", "usr/lib/x86_64-linux-gnu/perl", "usr/lib/x86_64-linux-gnu/gconv"]
PRUNE_MODULES = ["sound", "drivers/gpu", "drivers/media", "drivers/net/wireless", "drivers/infiniband",
                 "drivers/staging", "drivers/isdn", "drivers/bluetooth", "drivers/iio", "drivers/video",
                 "drivers/input/touchscreen", "drivers/input/joystick", "drivers/hwmon", "drivers/mtd",
                 "drivers/net/can", "drivers/net/usb", "drivers/usb/gadget", "drivers/misc",
                 "drivers/platform", "drivers/leds", "drivers/nfc", "drivers/comedi", "drivers/mfd",
                 "drivers/char/tpm", "drivers/edac", "drivers/w1", "net/bluetooth", "net/wireless",
                 "net/mac80211", "fs/ocfs2", "fs/gfs2", "fs/ntfs3", "fs/nilfs2", "fs/ubifs", "fs/jffs2",
                 "fs/f2fs", "fs/btrfs", "fs/xfs", "fs/bcachefs", "fs/reiserfs", "fs/jfs", "fs/nfsd",
                 "fs/ceph", "fs/smb", "fs/cifs", "fs/afs", "fs/coda", "fs/dlm", "fs/orangefs",
                 "net/ceph", "drivers/md", "drivers/scsi/qla2xxx", "drivers/scsi/lpfc",
                 "drivers/scsi/mpt3sas", "drivers/scsi/bfa", "drivers/scsi/be2iscsi",
                 "drivers/target", "drivers/net/ethernet/mellanox", "drivers/net/ethernet/chelsio",
                 "drivers/net/ethernet/qlogic", "drivers/net/ethernet/netronome",
                 "drivers/net/ethernet/sfc", "drivers/net/ethernet/huawei", "drivers/crypto",
                 "drivers/thunderbolt", "drivers/firewire", "drivers/atm", "drivers/net/wan",
                 "drivers/net/ieee802154", "net/ieee802154", "net/6lowpan", "net/rxrpc",
                 "drivers/net/hamradio", "net/ax25", "net/netrom", "net/rose", "net/netfilter",
                 "net/sunrpc", "net/sched", "fs/nfs", "fs/nfs_common", "fs/lockd"]
IPXE_SCRIPT = """\
#!ipxe
# stackdeb discovery live system. Chain to this script after setting where the files are and
# where reports go, for example:
#   set base-url http://SERVER/discovery
#   set report-url http://INVENTORY/v1/reports
#   chain ${base-url}/boot.ipxe
isset ${base-url} || goto missing
isset ${report-url} || goto missing
kernel ${base-url}/vmlinuz boot=live fetch=${base-url}/filesystem.squashfs console=ttyS0 console=tty0 stackdeb.report=${report-url}
initrd ${base-url}/initrd.img
boot
:missing
echo base-url and report-url must be set before chaining to this script
exit 1
"""


def element_packages(element: str) -> list[str]:
    data = load_yaml((ELEMENTS / element / "package-installs.yaml").read_text()) or {}
    return sorted(data)


def element_digest(element: str) -> str:
    files = sorted(p for p in (ELEMENTS / element).rglob("*") if p.is_file())
    return sha256_json({str(p.relative_to(ELEMENTS)): [sha256_file(p), os.access(p, os.X_OK)] for p in files})


def up_to_date(out: Path, inputs: dict, main_file: str, label: str) -> bool:
    if is_current(out, sha256_json(inputs), [main_file]):
        log.info(f"{label} is up to date (inputs unchanged)")
        return True
    return False


def file_records(directory: Path, names: list[str]) -> dict:
    return {name: {"sha256": sha256_file(directory / name), "bytes": (directory / name).stat().st_size}
            for name in names}


# The initrd iPXE fetches before the kernel starts: the modules a network boot needs
# (initramfs-tools' `netboot`: the base set and the NIC drivers; live-boot adds squashfs and
# overlay), not `most`, which holds every storage driver too. Set before the kernel is
# installed, so the tree's own initrd is made so, reproducibly.
INITRAMFS_HOOK = ("--setup-hook=mkdir -p \"$1/etc/initramfs-tools/conf.d\" && "
                  "echo MODULES=netboot > \"$1/etc/initramfs-tools/conf.d/stackdeb-netboot.conf\"")


def base_tree(project: Project, suite_name: str, packages: list[str]) -> tuple[Path, int]:
    """The cached minbase tarball of a suite with `packages`, and its SOURCE_DATE_EPOCH."""
    suite = get_suite(suite_name)
    mirrors = machine_mirrors().lines(suite.codename)
    options = ['--aptopt=Apt::Install-Recommends "false"', INITRAMFS_HOOK]
    digest = sha256_json({"suite": suite.codename, "packages": packages, "mirrors": mirrors,
                          "options": options})[:12]
    base = project.cache_dir / "images"
    tarball = base / f"discovery-{suite.codename}-{digest}.tar"
    sidecar = tarball.with_suffix(".json")
    with exclusive(base / f".{tarball.name}.lock"):
        if not tarball.exists():
            log.info(f"creating the {suite.codename} discovery tree with mmdebstrap (once; cached)")
            epoch = int(time.time())
            fd, tmp = tempfile.mkstemp(dir=base, prefix=f".{tarball.stem}.", suffix=".tar")
            os.close(fd)
            try:
                mmdebstrap.create_tarball(suite.codename, Path(tmp), packages, mirrors, options=options,
                                          source_date_epoch=epoch)
                write_json(sidecar, {"source_date_epoch": epoch, "packages": packages})
                os.replace(tmp, tarball)
            finally:
                Path(tmp).unlink(missing_ok=True)
    return tarball, read_json(sidecar)["source_date_epoch"]


def apply_element(element: str, root: Path) -> None:
    """diskimage-builder's conventions, for a plain tree: copy static/, run install.d/ in order."""
    static = ELEMENTS / element / "static"
    if static.is_dir():
        shutil.copytree(static, root, dirs_exist_ok=True, symlinks=True)
    for script in sorted((ELEMENTS / element / "install.d").glob("*")):
        staged = root / "tmp" / script.name
        shutil.copy(script, staged)
        tools.run("chroot", [str(root), f"/tmp/{script.name}"], what=f"{element}/install.d/{script.name}",
                  fix=f"fix the script in elements/{element}/install.d", action=f"the {element} element")
        staged.unlink()


def prune(root: Path) -> None:
    for relative in PRUNE_PATHS:
        target = root / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
            target.mkdir()
    for modules in sorted((root / "lib/modules").iterdir()):
        for relative in PRUNE_MODULES:
            shutil.rmtree(modules / "kernel" / relative, ignore_errors=True)
        tools.run("chroot", [str(root), "depmod", "-a", modules.name], what="the pruned module tree", fix="")
    for leftover in ("etc/machine-id", "var/lib/dbus/machine-id"):
        path = root / leftover
        if path.exists():
            path.write_text("")        # systemd makes one at boot; an empty file keeps it unique per boot


def build_discovery(project: Project, suite_name: str, force: bool = False) -> Path:
    suite = get_suite(suite_name)
    for tool in ("mksquashfs", "chroot"):
        tools.find(tool)
    out = project.build_dir / "images" / f"discovery-{suite.codename}"
    packages = element_packages("stackdeb-discovery")
    tarball, epoch = base_tree(project, suite.codename, packages)
    inputs = {"tarball": tarball.name, "element": element_digest("stackdeb-discovery"),
              "prune": sha256_json([PRUNE_PATHS, PRUNE_MODULES]), "squash": SQUASH_COMPRESSION, "epoch": epoch}
    if not force and up_to_date(out, inputs, "filesystem.squashfs", f"discovery image for {suite.codename}"):
        return out
    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    with scratch(out.parent, f".discovery-{suite.codename}-") as work, replacing(out) as staged:
        root = work / "root"
        root.mkdir()
        tools.run("tar", ["--extract", "--numeric-owner", "--file", str(tarball), "--directory", str(root)],
                  what=str(tarball), fix=f"delete {tarball} to have it made again")
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        initrds = sorted((root / "boot").glob("initrd.img-*"))
        if len(kernels) != 1 or len(initrds) != 1:
            raise StackdebError(f"the discovery tree has {len(kernels)} kernels and {len(initrds)} initrds, "
                                "expected one of each", hint=f"delete {tarball} to have it made again")
        shutil.copy(kernels[0], staged / "vmlinuz")
        shutil.copy(initrds[0], staged / "initrd.img")
        log.info("applying the stackdeb-discovery element and pruning")
        apply_element("stackdeb-discovery", root)
        prune(root)
        log.info("squashing the live filesystem (zstd)")
        squash(root, staged / "filesystem.squashfs", epoch)
        (staged / "boot.ipxe").write_text(IPXE_SCRIPT)
        files = file_records(staged, ["vmlinuz", "initrd.img", "filesystem.squashfs", "boot.ipxe"])
        write_json(staged / "manifest.json", {"suite": suite.codename, "inputs": inputs,
                                              "inputs_digest": sha256_json(inputs), "packages": packages,
                                              "kernel": kernels[0].name, "files": files})
    size = (out / "filesystem.squashfs").stat().st_size / 1e6
    log.info(f"discovery image for {suite.codename}: filesystem.squashfs {size:.1f} MB, initrd "
             f"{(out / 'initrd.img').stat().st_size / 1e6:.1f} MB -> {out} [{time.monotonic() - started:.1f}s]")
    return out


# zstd at level 9 in 1 MiB blocks: 2 s on two cores against 23 s for xz, 64 MB against 59 MB,
# and the live system boots no slower under TCG (docs/benchmarks.md, "Images").
SQUASH_COMPRESSION = ["-comp", "zstd", "-Xcompression-level", "9", "-b", "1M"]


def squash(root: Path, output: Path, epoch: int) -> None:
    """Same tree, same bytes: fixed times for every inode and the filesystem, root ownership."""
    tools.run("mksquashfs", [str(root), str(output), "-noappend", *SQUASH_COMPRESSION, "-no-progress", "-quiet",
                             "-all-root", "-mkfs-time", str(epoch), "-all-time", str(epoch),
                             "-no-exports", "-no-xattrs"],
              what=str(output), fix="check free disk space",
              env={"SOURCE_DATE_EPOCH": None})   # mksquashfs refuses it alongside the options


# The cached bootstrap tarball holds what every node build installs and what is slow to install:
# debian-minimal's base packages (as its root.d/75-debian-minimal-baseinstall installs them, with
# recommends), then, as diskimage-builder's package-installs would (without recommends), the node
# element's packages and the base element's open-iscsi, whose initramfs hook would otherwise make
# the kernel's initrd a second time, and what a node installs from Debian in a cluster run
# (node_debian_packages). The kernel and its initrd, systemd, python3 and those are then
# unpacked from the cache instead of installed on every build; each build's `apt-get
# dist-upgrade` still brings the tarball up to date.
DEBIAN_MINIMAL_BASE = ["busybox", "gnupg2", "python3", "sudo", "systemd-sysv"]
BASE_ELEMENT_PACKAGES = ["open-iscsi"]


def node_debian_packages(project: Project, suite_name: str) -> list[str]:
    """What a node installs from Debian in a cluster run, so that its image carries it,
    installed natively once: what a cluster role may run beside the services (MariaDB,
    memcached, RabbitMQ), every catalog service's runtime packages, and the libpython the venvs
    link to. A venv package that needs more still gets it (the install task reads Debian's
    indices then)."""
    runtime = {p for service in project.catalog() for p in service.runtime_packages}
    infrastructure = {p for packages in INFRASTRUCTURE.values() for p in packages}
    return sorted(infrastructure | runtime | {f"libpython{get_suite(suite_name).python}"})


def node_bootstrap(cache_dir: Path, mirror_lines: list[str], debian_packages: list[str] = ()) -> dict[str, str]:
    """diskimage-builder's settings for a cached bootstrap tarball with the node's packages,
    for mmdebstrap (diskimage-builder passes the text to sh)."""
    packages = sorted({*element_packages("stackdeb-node"), *BASE_ELEMENT_PACKAGES, *debian_packages})
    sources = " ".join(f'"{line}"' for line in mirror_lines[1:])        # the first is the archive itself
    install = 'chroot "$1" apt-get install --yes'
    args = (f"""--setup-hook='printf "%s\\n" {sources} >> "$1/etc/apt/sources.list"' """
            f"""--customize-hook='{install} --install-recommends {" ".join(DEBIAN_MINIMAL_BASE)}' """
            f"""--customize-hook='{install} --no-install-recommends {" ".join(packages)}'""")
    key = sha256_json(args)[:8]         # the tarball's name does not say what it holds: its folder does
    return {
        # made once a week from the mirrors, then unpacked by every build of that week
        "DIB_IMAGE_CACHE": str(cache_dir / "dib" / f"{time.strftime('%G-W%V')}-{key}"),
        "DIB_DEBOOTSTRAP_CACHE": "1", "DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE": "1",
        "DIB_MMDEBSTRAP_EXTRA_ARGS": args,
    }


def build_node(project: Project, release: str, suite_name: str, *, repo_url: str, keyring: Path | None = None,
               build_repo_url: str | None = None, packages: list[str] = (), force: bool = False) -> Path:
    """The node image of a target, wired to its staging suite at `repo_url` (as the nodes
    reach it); `packages` are preinstalled from `build_repo_url` (as this machine reaches it)."""
    from builders.repository.generations import Repository
    suite = get_suite(suite_name)
    if not repo_url or "://" not in repo_url:
        raise StackdebError("the node image needs the repository URL its nodes will use",
                            hint="pass --repo-url http://HOST:PORT/ (there is no default address)")
    keyring = keyring or Repository(project.repo_dir).keyring()
    if not keyring.is_file():
        raise StackdebError(f"the archive keyring {keyring} does not exist",
                            hint="publish a build set first (stackdeb publish), or pass --keyring")
    tools.find("disk-image-create")
    tools.find("mmdebstrap")       # diskimage-builder would fall back to debootstrap, without the hooks
    out = project.build_dir / "images" / f"node-{release}-{suite.codename}"
    mirrors = machine_mirrors()
    debian_packages = node_debian_packages(project, suite.codename)
    env = {"ELEMENTS_PATH": str(ELEMENTS), "DIB_RELEASE": suite.codename,
           "DIB_DISTRIBUTION_MIRROR": mirrors.archive, "DIB_DEBIAN_COMPONENTS": "main",
           **node_bootstrap(project.cache_dir, mirrors.lines(suite.codename), debian_packages),
           "DIB_STACKDEB_REPO_URL": repo_url, "DIB_STACKDEB_BUILD_REPO_URL": build_repo_url or repo_url,
           "DIB_STACKDEB_SUITE": Target(release, suite).staging_suite, "DIB_STACKDEB_KEYRING": str(keyring),
           "DIB_STACKDEB_PACKAGES": " ".join(packages),
           # in the cached layer; the element turns their units off
           "DIB_STACKDEB_DEBIAN_PACKAGES": " ".join(debian_packages)}
    if mirrors.security:
        env["DIB_DEBIAN_SECURITY_MIRROR"] = mirrors.security
    inputs = {"env": {k: v for k, v in env.items() if k not in ("DIB_IMAGE_CACHE", "ELEMENTS_PATH")},
              "keyring": sha256_file(keyring),
              "elements": {e: element_digest(e) for e in ("stackdeb-node", "stackdeb-staging-repo")}}
    if not force and up_to_date(out, inputs, "node.qcow2", f"node image for {release}/{suite.codename}"):
        return out
    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as staged:
        log.info(f"building the node image for {release}/{suite.codename} with diskimage-builder "
                 f"(under a minute; the week's first build makes its cached layer, a minute more)")
        # the log is kept beside the outputs, and where the user can read it when the build fails
        build_log = out.parent / f"node-{release}-{suite.codename}.log"
        dib.disk_image_create(staged / "node", ["debian-minimal", "stackdeb-node"], env, image_size_gb=2,
                              log_file=build_log)
        files = file_records(staged, ["node.qcow2", "node.vmlinuz", "node.initrd"])
        write_json(staged / "manifest.json", {"release": release, "suite": suite.codename, "inputs": inputs,
                                              "inputs_digest": sha256_json(inputs), "files": files,
                                              "boot": "root=LABEL=cloudimg-rootfs"})
        for leftover in staged.iterdir():      # diskimage-builder's other outputs
            if leftover.name not in files and leftover.name != "manifest.json":
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    log.info(f"node image for {release}/{suite.codename}: node.qcow2 "
             f"{(out / 'node.qcow2').stat().st_size / 1e6:.0f} MB -> {out} [{time.monotonic() - started:.0f}s]")
    return out


def image_problems(project: Project, release: str, suite_name: str) -> list[str]:
    """Why the target's images cannot be used by a cluster run (missing, or built from other
    elements or another archive key than today's), as messages; empty when they can."""
    from builders.repository.generations import Repository
    suite = get_suite(suite_name)
    images = project.build_dir / "images"
    problems = []
    discovery = read_json(images / f"discovery-{suite.codename}" / "manifest.json")
    if not discovery:
        problems.append(f"the discovery image for {suite.codename} is missing "
                        f"(stackdeb image discovery --suite {suite.codename})")
    elif (discovery["inputs"].get("element") != element_digest("stackdeb-discovery")
          or discovery["inputs"].get("prune") != sha256_json([PRUNE_PATHS, PRUNE_MODULES])):
        problems.append(f"the discovery image for {suite.codename} is out of date: its element changed "
                        f"(stackdeb image discovery --suite {suite.codename})")
    node = read_json(images / f"node-{release}-{suite.codename}" / "manifest.json")
    rebuild = f"stackdeb image node --release {release} --suite {suite.codename} --repo-url URL"
    keyring = Repository(project.repo_dir).keyring()
    if not node:
        problems.append(f"the node image for {release}/{suite.codename} is missing ({rebuild})")
    elif node["inputs"].get("elements") != {e: element_digest(e) for e in ("stackdeb-node", "stackdeb-staging-repo")}:
        problems.append(f"the node image for {release}/{suite.codename} is out of date: its elements changed ({rebuild})")
    elif keyring.is_file() and node["inputs"].get("keyring") != sha256_file(keyring):
        problems.append(f"the node image for {release}/{suite.codename} trusts another archive key than the "
                        f"repository's ({rebuild})")
    elif node["inputs"]["env"].get("DIB_STACKDEB_SUITE") != Target(release, suite).staging_suite:
        problems.append(f"the node image for {release}/{suite.codename} is wired to another suite ({rebuild})")
    return problems
