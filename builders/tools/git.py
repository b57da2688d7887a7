"""git: mirror a repository into the cache and read files at a ref without a work tree."""

import hashlib
from pathlib import Path

from builders import tools
from builders.errors import StackdebError


def mirror(url: str, cache_dir: Path) -> Path:
    """A bare mirror of `url` under `cache_dir`, cloned on first use and fetched after."""
    target = cache_dir / "git" / hashlib.sha256(url.encode()).hexdigest()[:16]
    if target.exists():
        tools.run("git", ["--git-dir", str(target), "fetch", "--quiet", "--prune", "origin",
                          "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                  what=url, fix="check the repository URL and that it is reachable")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        tools.run("git", ["clone", "--quiet", "--mirror", url, str(target)],
                  what=url, fix="check the repository URL and that it is reachable")
    return target


def show(git_dir: Path, ref: str, path: str) -> str:
    """Content of `path` at `ref`; a clear error when either does not exist."""
    result = tools.run("git", ["--git-dir", str(git_dir), "show", f"{ref}:{path}"],
                       what=f"{path} at {ref}", fix="", ok_codes=(0, 128))
    if result.returncode:
        raise StackdebError(f"{path} does not exist at {ref} in {git_dir}",
                            hint="check the branch/ref and the repository layout")
    return result.stdout


def list_dir(git_dir: Path, ref: str, path: str) -> list[str]:
    result = tools.run("git", ["--git-dir", str(git_dir), "ls-tree", "--name-only", f"{ref}:{path}"],
                       what=f"{path} at {ref}", fix="", ok_codes=(0, 128))
    if result.returncode:
        raise StackdebError(f"{path} does not exist at {ref} in {git_dir}")
    return result.stdout.split()


def rev_parse(git_dir: Path, ref: str) -> str:
    return tools.run("git", ["--git-dir", str(git_dir), "rev-parse", ref],
                     what=ref, fix="check the branch/ref").stdout.strip()


def commit_date(git_dir: Path, ref: str) -> str:
    """The committer date of `ref`, ISO 8601."""
    return tools.run("git", ["--git-dir", str(git_dir), "show", "-s", "--format=%cI", ref],
                     what=ref, fix="check the branch/ref").stdout.strip()
