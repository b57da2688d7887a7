"""Run by debian/rules after dh_virtualenv, inside the build chroot, with the system python.

Makes the virtualenv independent of where it was built, so two builds in different
directories give bit-identical packages:
  1. generate the sample configuration with the service's oslo-config-generator namespaces;
  2. write the other files the package ships under /etc (uwsgi ini files, stubs), and drop
     the venv's pip scripts;
  3. replace the build path with the final one in pyvenv.cfg and any text file that still
     holds it, then correct the RECORD rows of files that changed;
  4. byte-compile the venv but its test suites (checked-hash .pyc, no timestamps, the final
     paths inside), so that installing needs no compiling: on a slow machine that was most of
     the install;
  5. clear the executable bit of files that are neither scripts nor binaries.
Usage: finalize.py VENV_BUILD VENV_FINAL CONFIG.json
"""

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def generate_config(venv: Path, package_root: Path, spec: dict) -> None:
    out = package_root / spec["path"].lstrip("/")
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [str(venv / "bin/python"), "-m", "oslo_config.generator", "--output-file", str(out)]
    for namespace in spec["namespaces"]:
        args += ["--namespace", namespace]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(args, env=env, capture_output=True, text=True)
    if result.returncode or not out.exists():
        sys.exit(f"finalize: oslo-config-generator failed for {spec['path']}:\n{result.stderr[-2000:]}")


def write_files(package_root: Path, files: dict[str, str]) -> None:
    for path, text in sorted(files.items()):
        out = package_root / path.lstrip("/")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)


def replace_build_path(roots: list[Path], build: bytes, final: bytes) -> list[Path]:
    """Rewrite every text file containing the build path; return those changed. Binary files
    are left alone: a path of another length would corrupt them."""
    changed = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file() or path.suffix == ".pyc":
                continue
            data = path.read_bytes()
            if build in data and b"\0" not in data:
                path.write_bytes(data.replace(build, final))
                changed.append(path)
    return changed


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def fix_records(site_packages: Path) -> None:
    """Refresh the hash and size of every RECORD row whose file changed; drop the rows of
    files that were removed."""
    for record in sorted(site_packages.glob("*.dist-info/RECORD")):
        rows = []
        for row in csv.reader(io.StringIO(record.read_text())):
            target = site_packages / row[0]
            if len(row) == 3 and row[1]:
                if not target.is_file():
                    continue
                data = target.read_bytes()
                if record_hash(data) != row[1]:
                    row[1], row[2] = record_hash(data), str(len(data))
            rows.append(row)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        record.write_text(buffer.getvalue())


# Byte-code is compiled in this many worker processes, whatever the machine: a .pyc's bytes
# depend on what its process compiled before (marshal marks objects shared by reference
# counts), so each worker compiles a fixed share of the files, in a fixed order.
COMPILE_SHARES = 4

COMPILE_WORKER = """
import py_compile, sys
strip, prefix, share = sys.argv[1:]
for path in open(share).read().splitlines():
    try:
        py_compile.compile(path, dfile=prefix + path[len(strip):], doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    except (py_compile.PyCompileError, SyntaxError, ValueError):
        print(path[len(strip):])
"""


def is_test_suite(path: Path) -> bool:
    """A module of a project's own tests (`<package>/tests/`): shipped as the wheel has it, but a
    service never imports it, and compiling the test suites was a third of the byte-code
    (nova's venv: 2,778 of 8,030 modules, 44 of 110 MB of byte-code)."""
    return "tests" in path.parts[:-1]


def compile_bytecode(venv: Path, final: str) -> list[str]:
    """Compile every module but the test suites' with this python, the venv's own.
    checked-hash: no timestamp in the .pyc (reproducible), and a module an operator patches in
    place is still recompiled.
    A fixed hash seed keeps set and frozenset constants in one order. Return the files that
    do not compile (templates and Python 2 leftovers some wheels ship: never imported)."""
    sources = sorted(str(p) for p in (venv / "lib").rglob("*.py")
                     if p.is_file() and not p.is_symlink() and not is_test_suite(p.relative_to(venv)))
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    failed = []
    with tempfile.TemporaryDirectory() as shares:
        workers = []
        for number in range(COMPILE_SHARES):
            share = Path(shares) / str(number)
            share.write_text("\n".join(sources[number::COMPILE_SHARES]))
            workers.append(subprocess.Popen([sys.executable, "-c", COMPILE_WORKER, str(venv), final, str(share)],
                                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for worker in workers:
            out, err = worker.communicate()
            if worker.returncode:
                sys.exit(f"finalize: byte-compiling failed:\n{err[-2000:]}")
            failed += out.split()
    return sorted(failed)


def drop_stray_exec_bits(venv: Path) -> int:
    """Clear the executable bits of files outside bin/ that are neither scripts nor binaries
    (test modules, completion files some wheels mark executable): nothing can run them."""
    cleared = 0
    for path in sorted(venv.rglob("*")):
        if path.parent == venv / "bin" or path.is_symlink() or not path.is_file() or not path.stat().st_mode & 0o111:
            continue
        with path.open("rb") as file:
            head = file.read(4)
        if not head.startswith(b"#!") and head != b"\x7fELF":
            path.chmod(path.stat().st_mode & ~0o111)
            cleared += 1
    return cleared


def main() -> None:
    venv, final, config_path = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    config = json.loads(config_path.read_text())
    package_root = Path(str(venv)[: -len(final)])
    for spec in config["generated_configs"]:
        generate_config(venv, package_root, spec)
    write_files(package_root, config["files"])
    site_packages = next(venv.glob("lib/python3*/site-packages"))
    # uv records a wall-clock timestamp in each dist-info; fix_records drops their rows.
    for stamp in site_packages.glob("*.dist-info/uv_cache.json"):
        stamp.unlink()
    # A packaged venv is changed by upgrading the package, not with pip: drop the pip
    # scripts (`python -m pip` still works for inspection).
    for script in venv.glob("bin/pip*"):
        script.unlink()
    # Python 3.13's venv writes a .gitignore ("*") at its root: nothing for a package to ship.
    (venv / ".gitignore").unlink(missing_ok=True)
    # Some wheels ship byte-code of their own (numpy), compiled elsewhere and recorded in
    # RECORD: it goes, and compile_bytecode makes all of it here; fix_records drops the rows.
    for cache in sorted(venv.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    build, target = str(venv).encode(), final.encode()
    etc = package_root / "etc"
    changed = replace_build_path([venv, *([etc] if etc.exists() else [])], build, target)
    fix_records(site_packages)
    cleared = drop_stray_exec_bits(venv)
    failed = compile_bytecode(venv, final)
    print(f"finalize: {len(changed)} files moved to {final}; {cleared} not executable; byte-compiled "
          f"({len(failed)} files are not valid Python {sys.version_info.major}.{sys.version_info.minor}"
          f"{': ' + ', '.join(failed[:5]) if failed else ''})")


if __name__ == "__main__":
    main()
