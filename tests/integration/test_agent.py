"""The hardware agent on the host, against canned /proc and /sys trees. Nothing is sent
anywhere: sending goes through a fake curl on PATH that only records its arguments."""

import shutil
import subprocess
from pathlib import Path

from agent_host import AGENT, canned_host
from builders.inventory import check_report


def run_agent(root: Path, *args: str, path_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {"STACKDEB_AGENT_ROOT": str(root), "STACKDEB_AGENT_MAX_DELAY": "1",
           "PATH": f"{path_dir}:/usr/bin:/bin" if path_dir else "/usr/bin:/bin"}
    return subprocess.run(["dash", str(AGENT), *args], env=env, capture_output=True, text=True, timeout=60)


def fake_curl(directory: Path, statuses: list[str]) -> Path:
    """A curl that records each call and answers the given HTTP statuses in turn."""
    directory.mkdir()
    (directory / "statuses").write_text("\n".join(statuses) + "\n")
    script = directory / "curl"
    script.write_text(f"""#!/bin/sh
echo "$*" >> {directory}/calls
status=$(head -n 1 {directory}/statuses)
sed -i 1d {directory}/statuses
printf '%s' "$status"
""")
    script.chmod(0o755)
    return directory


def test_the_agent_is_small_posix_sh_and_shellcheck_clean():
    assert AGENT.read_text().startswith("#!/bin/sh\n")
    assert AGENT.stat().st_size < 12_000
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: bootstrap.sh installs it"
    result = subprocess.run([shellcheck, "--shell=sh", str(AGENT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_report_describes_the_canned_machine_and_matches_the_schema(tmp_path):
    result = run_agent(canned_host(tmp_path / "host"), "--print")
    assert result.returncode == 0, result.stderr
    report = check_report(result.stdout.encode(), "application/json")
    assert report["machine"] == {"serial": "SRV-0042", "product": "PowerEdge R640", "vendor": "Dell Inc.",
                                 "uuid": "4c4c4544-0042"}
    assert report["cpu"] == {"count": 4, "model": 'Intel(R) Xeon(R) "Gold" 6130'}
    assert report["memory"]["total_bytes"] == 8 * 2**30
    assert report["disks"] == [
        {"name": "nvme0n1", "size_bytes": 3907029168 * 512, "model": "SAMSUNG MZQL21T9", "serial": "S64GNA0R",
         "rotational": False},
        {"name": "sda", "size_bytes": 1953525168 * 512, "model": "ST1000NM0055", "serial": "ZBS0AAAA",
         "rotational": True}]
    assert report["nics"] == [{"name": "eno1", "mac": "b8:2a:72:00:00:01", "driver": "ixgbe", "link": True,
                               "speed_mbps": 10000, "addresses": []}]
    assert report["lldp"] is None


def test_without_a_report_url_on_the_kernel_command_line_it_does_nothing(tmp_path):
    curl = fake_curl(tmp_path / "bin", ["201"])
    result = run_agent(canned_host(tmp_path / "host"), path_dir=curl)
    assert result.returncode == 0
    assert "no stackdeb.report= on the kernel command line: nothing to do" in result.stderr
    assert not (curl / "calls").exists()


def test_it_retries_until_acknowledged(tmp_path):
    curl = fake_curl(tmp_path / "bin", ["000", "503", "201"])
    host = canned_host(tmp_path / "host", "boot=live stackdeb.report=http://inventory.invalid/v1/reports")
    result = run_agent(host, path_dir=curl)
    assert result.returncode == 0, result.stderr
    calls = (curl / "calls").read_text().splitlines()
    assert len(calls) == 3 and all("http://inventory.invalid/v1/reports" in c for c in calls)
    assert "attempt 2; retrying" in result.stderr and "acknowledged" in result.stderr


def test_a_refused_report_is_not_retried(tmp_path):
    curl = fake_curl(tmp_path / "bin", ["400", "201"])
    host = canned_host(tmp_path / "host", "stackdeb.report=http://inventory.invalid/v1/reports")
    result = run_agent(host, path_dir=curl)
    assert result.returncode == 1
    assert len((curl / "calls").read_text().splitlines()) == 1
    assert "refused" in result.stderr


def test_a_report_url_that_is_not_http_is_an_error(tmp_path):
    curl = fake_curl(tmp_path / "bin", ["201"])
    result = run_agent(canned_host(tmp_path / "host", "stackdeb.report=file:///etc/passwd"), path_dir=curl)
    assert result.returncode == 2 and "is not an http(s) URL" in result.stderr
    assert not (curl / "calls").exists()
