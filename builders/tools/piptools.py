"""pip-tools: the reference resolver (`pip-compile`), slower than uv but the format's origin."""

from pathlib import Path

from builders import tools

# pip-compile reads pip's configuration; keep the machine's extra indexes and find-links out.
_ISOLATED = {"PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": None, "PIP_EXTRA_INDEX_URL": None,
             "PIP_NO_INDEX": None, "PIP_INDEX_URL": None}


def pip_compile(workdir: Path, inputs: list[str], constraints: str, output: str, *,
                python: str, platform: str, index_url: str, what: str) -> None:
    """Same interface as the uv one; pip-compile resolves for the interpreter it runs on, so
    `python` and `platform` are checked by the caller rather than passed."""
    tools.run("pip-compile", [
        "--quiet", "--generate-hashes", "--no-header", "--annotation-style", "split",
        "--strip-extras", "--allow-unsafe", "--no-emit-index-url", "--no-emit-find-links",
        "--index-url", index_url, "-c", constraints, "-o", output, *inputs,
    ], cwd=workdir, env=_ISOLATED, what=what,
        fix="a constraint conflict or an unknown requirement: read pip-compile's explanation, then "
            "fix the release's overrides.yaml or the catalog's extra_requirements")
