"""Where things live: the project's data, the shared cache and the build outputs."""

import os
from dataclasses import dataclass
from pathlib import Path

from builders import PROJECT_DIR
from builders.catalog import Catalog, load_catalog
from builders.targets import Target, get_suite


@dataclass(frozen=True)
class Project:
    root: Path        # catalog, requirements-bundles (committed data)
    cache_dir: Path   # shared by every target: wheel cache, git mirrors
    build_dir: Path   # outputs: wheelhouses, .deb files

    @classmethod
    def from_env(cls, root: Path | None = None, cache_dir: Path | None = None,
                 build_dir: Path | None = None) -> "Project":
        root = Path(root or os.environ.get("STACKDEB_PROJECT_DIR") or PROJECT_DIR)
        xdg_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        cache = Path(cache_dir or os.environ.get("STACKDEB_CACHE_DIR") or xdg_cache / "stackdeb")
        build = Path(build_dir or os.environ.get("STACKDEB_BUILD_DIR") or root / "build")
        return cls(root.resolve(), cache.resolve(), build.resolve())

    @property
    def repo_dir(self) -> Path:
        return Path(os.environ.get("STACKDEB_REPO_DIR") or self.build_dir / "repo")

    @property
    def inventory_db(self) -> Path:
        return Path(os.environ.get("STACKDEB_INVENTORY_DB") or self.build_dir / "inventory.sqlite")

    @property
    def chroot_dir(self) -> Path:
        return Path(os.environ.get("STACKDEB_CHROOT_DIR") or self.cache_dir / "chroots")

    @property
    def catalog_path(self) -> Path:
        return self.root / "packaging" / "services.yaml"

    def catalog(self) -> Catalog:
        return load_catalog(self.catalog_path)

    def release_dir(self, release_id: str) -> Path:
        return self.root / "requirements-bundles" / release_id

    def lock_dir(self, release_id: str, suite: str) -> Path:
        return self.release_dir(release_id) / suite

    @property
    def bindep_path(self) -> Path:
        return self.root / "requirements-bundles" / "bindep.txt"

    def bundle_dir(self, release_id: str, suite: str) -> Path:
        return self.target_dir("bundles", Target(release_id, get_suite(suite)))

    def target_dir(self, kind: str, target: Target) -> Path:
        """build/<kind>/<release>-<suite>: where a stage keeps one target's outputs (bundles,
        packages, cluster)."""
        return self.build_dir / kind / target.name
