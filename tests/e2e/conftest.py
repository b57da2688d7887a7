import os
import subprocess
import sys

import pytest

SERVICES = ["keystone", "glance", "placement"]


@pytest.fixture(scope="session")
def real_packages(tmp_path_factory):
    """keystone, glance and placement built once for the session, twice each (the
    reproducibility proof) with lintian, from the committed 2026.1/bookworm lock."""
    build = tmp_path_factory.mktemp("build")
    env = {**os.environ, "STACKDEB_BUILD_DIR": str(build)}
    for args in (["bundle"], ["package", *SERVICES, "--check-reproducible"]):
        result = subprocess.run([sys.executable, "-m", "builders.cli", *args], env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-4000:]
    return build
