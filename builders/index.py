"""A small client for a Python package index: list a project's files, download one.

Speaks the JSON simple API (PEP 691) and falls back to the HTML one (PEP 503), so it works
with the public index, mirrors, and a directory served over HTTP in tests.
"""

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin

from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename, canonicalize_name,
                             parse_sdist_filename, parse_wheel_filename)

from builders.errors import StackdebError

ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
TIMEOUT = 120


@dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    sha256: str | None
    requires_python: str | None = None      # the file's Requires-Python, as the index gives it


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str, str | None]] = []
        self._href: str | None = None
        self._requires_python: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            attributes = dict(attrs)
            self._href, self._requires_python = attributes.get("href"), attributes.get("data-requires-python")

    def handle_data(self, data):
        if self._href is not None:
            self.links.append((self._href, data.strip(), self._requires_python))
            self._href = None


def _from_html(page: str, base: str) -> list[IndexFile]:
    parser = _Links()
    parser.feed(page)
    files = []
    for href, text, requires_python in parser.links:
        url, fragment = urldefrag(urljoin(base, href))
        sha = fragment[len("sha256="):] if fragment.startswith("sha256=") else None
        files.append(IndexFile(text or url.rsplit("/", 1)[-1], url, sha, requires_python))
    return files


def _from_json(page: str, base: str) -> list[IndexFile]:
    return [IndexFile(f["filename"], urljoin(base, f["url"]), f.get("hashes", {}).get("sha256"),
                      f.get("requires-python"))
            for f in json.loads(page).get("files", [])]


class PackageIndex:
    def __init__(self, url: str):
        self.url = url.rstrip("/") + "/"

    def files(self, project: str) -> list[IndexFile]:
        page_url = f"{self.url}{canonicalize_name(project)}/"
        request = urllib.request.Request(page_url, headers={"Accept": ACCEPT})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                kind = response.headers.get("Content-Type", "")
                page = response.read().decode()
        except (urllib.error.URLError, OSError) as exc:
            raise StackdebError(f"cannot read the index page of {project}: {exc}",
                                hint="check the network and the configured index-url") from None
        return _from_json(page, page_url) if "json" in kind else _from_html(page, page_url)


def file_version(item: IndexFile) -> str | None:
    """The version a wheel or sdist file is of, by its name (None for anything else)."""
    try:
        if item.filename.endswith(".whl"):
            return str(parse_wheel_filename(item.filename)[1])
        if item.filename.endswith((".tar.gz", ".zip")):
            return str(parse_sdist_filename(item.filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename):
        pass         # a file named against the conventions is not a release of this project
    return None


def released_versions(files: list[IndexFile]) -> set[str]:
    """The versions that have at least one file (a wheel or an sdist) on an index page."""
    return {version for version in map(file_version, files) if version}


def download(url: str, directory: Path, filename: str) -> tuple[Path, str]:
    """Download to a new temporary file in `directory`; return its path and sha256."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{filename}.")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        return Path(tmp), digest.hexdigest()
    except (urllib.error.URLError, OSError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StackdebError(f"cannot download {filename}: {exc}",
                            hint="check the network and the configured index-url") from None
