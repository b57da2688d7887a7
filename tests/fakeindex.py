"""A package index of tiny generated wheels and sdists, served over HTTP on 127.0.0.1.

Tests of the lock and bundle stages run offline against it, with the real resolvers (uv,
pip-compile) and the real sdist compiler (uv build).
"""

import base64
import hashlib
import html
import http.server
import io
import sys
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

from packaging.utils import canonicalize_name

EPOCH = (2026, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel_bytes(name: str, version: str, *, requires=(), console_scripts=None, modules=None,
                scripts=None, tag="py3-none-any", requires_python=None) -> bytes:
    """A minimal, valid, installable wheel; `scripts` are executables (name -> bytes)."""
    module = canonicalize_name(name).replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {f"{module}/__init__.py": f"VERSION = {version!r}\n"}
    for path, text in (modules or {}).items():
        files[path] = text
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    metadata += f"Requires-Python: {requires_python}\n" if requires_python else ""
    files[f"{dist_info}/METADATA"] = metadata
    files[f"{dist_info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: fakeindex\nRoot-Is-Purelib: true\nTag: {tag}\n"
    binaries = {f"{module}-{version}.data/scripts/{n}": data for n, data in (scripts or {}).items()}
    if console_scripts:
        files[f"{dist_info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in console_scripts.items())
    contents = {p: t.encode() for p, t in files.items()} | binaries
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in contents.items())
    contents[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in contents.items():
            info = zipfile.ZipInfo(path, EPOCH)
            info.external_attr = (0o755 if path in binaries else 0o644) << 16
            archive.writestr(info, data)
    return buffer.getvalue()


# A PEP 517 backend kept inside the sdist (no build requirements), so compiling needs no index.
BACKEND = '''
import base64, hashlib, os, sys, zipfile
NAME, VERSION, REQUIRES, NATIVE = {name!r}, {version!r}, {requires!r}, {native!r}
MODULE = NAME.replace("-", "_")
DIST_INFO = f"{{MODULE}}-{{VERSION}}.dist-info"

def _metadata():
    return (f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n"
            + "".join(f"Requires-Dist: {{r}}\\n" for r in REQUIRES))

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, DIST_INFO))
    with open(os.path.join(metadata_directory, DIST_INFO, "METADATA"), "w") as out:
        out.write(_metadata())
    return DIST_INFO

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    # a native wheel says which interpreter and C library built it, as an extension would link them
    python = f"cp{{sys.version_info[0]}}{{sys.version_info[1]}}"
    tag = f"{{python}}-{{python}}-linux_x86_64" if NATIVE else "py3-none-any"
    built_with = f"python={{sys.version.split()[0]}} libc={{os.confstr('CS_GNU_LIBC_VERSION')}}\\n"
    files = {{f"{{MODULE}}/__init__.py": "COMPILED = True\\n",
              f"{{MODULE}}/BUILT_WITH": built_with if NATIVE else "",
              f"{{DIST_INFO}}/METADATA": _metadata(),
              f"{{DIST_INFO}}/WHEEL": f"Wheel-Version: 1.0\\nGenerator: inline\\nRoot-Is-Purelib: {{str(not NATIVE).lower()}}\\nTag: {{tag}}\\n"}}
    def digest(text):
        raw = hashlib.sha256(text.encode()).digest()
        return "sha256=" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    record = "".join(f"{{p}},{{digest(t)}},{{len(t.encode())}}\\n" for p, t in files.items())
    files[f"{{DIST_INFO}}/RECORD"] = record + f"{{DIST_INFO}}/RECORD,,\\n"
    filename = f"{{MODULE}}-{{VERSION}}-{{tag}}.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, (2026, 1, 1, 0, 0, 0)), text)
    return filename
'''


def sdist_bytes(name: str, version: str, *, requires=(), native=False, build_requires=()) -> bytes:
    """An sdist with its own build backend; a `native` one builds a wheel for the Python that
    compiles it (cpXY-cpXY-linux_x86_64), recording that Python's and C library's versions."""
    module = canonicalize_name(name).replace("-", "_")
    top = f"{module}-{version}"
    files = {
        "pyproject.toml": f'[build-system]\nrequires = {list(build_requires)!r}\nbuild-backend = "backend"\n'
                          'backend-path = ["."]\n'.replace("'", '"'),
        "backend.py": BACKEND.format(name=name, version=version, requires=list(requires), native=native),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size, info.mtime = len(data), 1767225600
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class FakeIndex:
    """Files under root/files/, PEP 503 pages under root/simple/<project>/index.html."""

    def __init__(self, root: Path):
        self.root = root
        self.projects: dict[str, list[str]] = {}
        self.requires_python: dict[str, str] = {}      # filename -> what its link says
        (root / "files").mkdir(parents=True, exist_ok=True)

    def add(self, project: str, filename: str, data: bytes) -> None:
        (self.root / "files" / filename).write_bytes(data)
        self.projects.setdefault(canonicalize_name(project), []).append(filename)
        self._write_page(canonicalize_name(project))

    def add_wheel(self, name: str, version: str, **kwargs) -> None:
        module = canonicalize_name(name).replace("-", "_")
        filename = f"{module}-{version}-py3-none-any.whl"
        if kwargs.get("requires_python"):
            self.requires_python[filename] = kwargs["requires_python"]
        self.add(name, filename, wheel_bytes(name, version, **kwargs))

    def add_uv(self) -> str:
        """The host's own uv binary as a wheel: the build tool the venv packages install with,
        available offline. Returns its version."""
        from importlib.metadata import version
        from uv import find_uv_bin
        uv_version = version("uv")
        data = wheel_bytes("uv", uv_version, scripts={"uv": Path(find_uv_bin()).read_bytes()},
                           tag="py3-none-manylinux_2_17_x86_64")
        self.add("uv", f"uv-{uv_version}-py3-none-manylinux_2_17_x86_64.whl", data)
        return uv_version

    def add_sdist(self, name: str, version: str, **kwargs) -> None:
        module = canonicalize_name(name).replace("-", "_")
        self.add(name, f"{module}-{version}.tar.gz", sdist_bytes(name, version, **kwargs))

    def replace_bytes(self, filename: str, data: bytes) -> None:
        """Serve other bytes under the same name and the same advertised hash (a tampered mirror)."""
        (self.root / "files" / filename).write_bytes(data)

    def republish(self, project: str, filename: str, data: bytes) -> None:
        """Other bytes under the same name, honestly advertised (before anything is locked)."""
        self.replace_bytes(filename, data)
        self._write_page(canonicalize_name(project))

    def _write_page(self, project: str) -> None:
        links = []
        for filename in self.projects[project]:
            digest = hashlib.sha256((self.root / "files" / filename).read_bytes()).hexdigest()
            requires = self.requires_python.get(filename)
            attribute = f' data-requires-python="{html.escape(requires)}"' if requires else ""
            links.append(f'<a href="../../files/{filename}#sha256={digest}"{attribute}>{filename}</a>')
        page = self.root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")

    def serve(self) -> "tuple[str, http.server.ThreadingHTTPServer]":
        handler = partial(_QuietHandler, directory=str(self.root))
        server = _QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/simple/", server


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that hangs up mid-download (a resolver that has failed already) is not the
        index's error: print nothing into the output the tests read."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
