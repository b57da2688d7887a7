"""uv: the fast resolver (`uv pip compile`) and the sdist compiler (`uv build`)."""

from pathlib import Path

from builders import tools

# uv reads no pip.conf, but it does read its own configuration and UV_* variables: keep the
# machine's uv settings out so the index given here is the only one.
_ISOLATED = {"UV_INDEX_URL": None, "UV_EXTRA_INDEX_URL": None, "UV_FIND_LINKS": None,
             "UV_DEFAULT_INDEX": None, "UV_INDEX": None, "UV_NO_INDEX": None}


def pip_compile(workdir: Path, inputs: list[str], constraints: str, output: str, *,
                python: str, platform: str, index_url: str, what: str) -> None:
    tools.run("uv", [
        # --refresh: a release published minutes ago must be seen, not uv's cached page
        "pip", "compile", "--no-config", "--quiet", "--refresh", "--generate-hashes", "--no-header",
        "--annotation-style", "split", "--strip-extras",
        "--python-version", python, "--python-platform", platform,
        "--index-url", index_url, "-c", constraints, "-o", output, *inputs,
    ], cwd=workdir, env=_ISOLATED, what=what,
        fix="a constraint conflict or an unknown requirement: read uv's explanation above, then "
            "fix the release's overrides.yaml or the catalog's extra_requirements")


def build_wheel(sdist: Path, out_dir: Path, *, python: str, index_url: str,
                source_date_epoch: int) -> None:
    """Compile one sdist into a wheel with its build dependencies in an isolated environment."""
    tools.run("uv", [
        "build", "--no-config", "--quiet", "--wheel", "--python", python,
        "--index-url", index_url, "--out-dir", str(out_dir), str(sdist),
    ], env={**_ISOLATED, "SOURCE_DATE_EPOCH": str(source_date_epoch),
            "UV_PYTHON_DOWNLOADS": "never"},
        what=f"the sdist {sdist.name}",
        fix="usually a missing system package: add it for this project to "
            "requirements-bundles/bindep.txt (profile named after the project)")
