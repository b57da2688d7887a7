"""diskimage-builder: disk-image-create with our elements."""

from pathlib import Path

from builders import tools


def disk_image_create(output: Path, elements: list[str], env: dict[str, str], *, image_size_gb: int,
                      log_file: Path) -> None:
    # diskimage-builder calls sudo even as root; say so before it fails deep inside.
    tools.find("sudo")
    tools.run("disk-image-create", ["-a", "amd64", "-t", "qcow2", "--image-size", str(image_size_gb),
                                    "--no-tmpfs", "-o", str(output), *elements],
              env=env, what=f"the image {output.name}", action="diskimage-builder", log_file=log_file,
              fix=f"read {log_file}; check free disk space and the apt mirrors")
