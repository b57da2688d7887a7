"""gpg: the archive signing key, created on first use without a passphrase prompt."""

from pathlib import Path

from builders import tools
from builders.errors import StackdebError

KEY_NAME = "stackdeb archive signing key <archive@stackdeb.invalid>"


def _run(home: Path, args: list[str], what: str, ok_codes=(0,)):
    return tools.run("gpg", ["--homedir", str(home), "--batch", "--no-tty", *args],
                     what=what, fix="check the GnuPG home directory and its permissions",
                     ok_codes=ok_codes)


def secret_fingerprint(home: Path) -> str | None:
    if not home.exists():
        return None
    out = _run(home, ["--with-colons", "--list-secret-keys"], "the signing keyring", ok_codes=(0, 2)).stdout
    fingerprints = [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")]
    return fingerprints[0] if fingerprints else None


def ensure_key(home: Path, name: str = KEY_NAME, expire: str = "never") -> str:
    """The fingerprint of the signing key in `home`, creating an ed25519 key if none exists."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    found = secret_fingerprint(home)
    return found or generate_key(home, name, expire)


def generate_key(home: Path, name: str, expire: str = "never") -> str:
    """A new ed25519 signing key (`expire`: never, or a lifetime such as 2y); its fingerprint."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    before = set(_fingerprints(home))
    _run(home, ["--passphrase", "", "--pinentry-mode", "loopback", "--quick-generate-key",
                name, "ed25519", "sign", expire], f"a new signing key ({name})")
    created = [fpr for fpr in _fingerprints(home) if fpr not in before]
    if not created:
        raise StackdebError(f"gpg created no key in {home}")
    return created[0]


def _fingerprints(home: Path) -> list[str]:
    out = _run(home, ["--with-colons", "--list-secret-keys"], "the signing keyring", ok_codes=(0, 2)).stdout
    lines = out.splitlines()
    # the primary key's fingerprint follows its sec line (subkeys follow ssb lines)
    return [lines[i + 1].split(":")[9] for i, line in enumerate(lines[:-1])
            if line.startswith("sec:") and lines[i + 1].startswith("fpr:")]


def expiry(home: Path, fingerprint: str) -> int | None:
    """When the key expires (seconds since the epoch), or None if it never does."""
    out = _run(home, ["--with-colons", "--list-keys", fingerprint], "the signing key", ok_codes=(0, 2)).stdout
    for line in out.splitlines():
        if line.startswith("pub:"):
            field = line.split(":")[6]
            return int(field) if field.isdigit() else None
    return None


def export_public(home: Path, fingerprints: str | list[str], output: Path) -> None:
    """The public key(s) as a binary keyring, the format apt's Signed-By expects."""
    wanted = [fingerprints] if isinstance(fingerprints, str) else list(fingerprints)
    output.unlink(missing_ok=True)
    _run(home, ["--yes", "--output", str(output), "--export", *wanted], "the public key")
    if not output.exists() or not output.stat().st_size:
        raise StackdebError(f"the signing key {' '.join(wanted)} is not in {home}",
                            hint="point STACKDEB_SIGNING_HOME at a GnuPG home holding it, or at an "
                                 "empty directory to have a key created")


def verify(keyring: Path, signed: Path) -> bool:
    """True when `signed` (an InRelease file) carries a good signature from `keyring`."""
    result = tools.run("gpgv", ["--keyring", str(keyring), str(signed)], what=str(signed),
                       fix="", ok_codes=(0, 1, 2))
    return result.returncode == 0


def detach_sign(home: Path, fingerprint: str, document: Path, signature: Path) -> None:
    """An armored detached signature of `document` by `fingerprint`."""
    signature.unlink(missing_ok=True)
    _run(home, ["--yes", "--local-user", fingerprint, "--armor", "--output", str(signature),
                "--detach-sign", str(document)], str(document))


def verify_detached(keyring: Path, signature: Path, document: Path) -> bool:
    result = tools.run("gpgv", ["--keyring", str(keyring), str(signature), str(document)], what=str(document),
                       fix="", ok_codes=(0, 1, 2))
    return result.returncode == 0


def clear_sign(home: Path, fingerprint: str, document: Path, signed: Path) -> None:
    """`document` with an inline signature by `fingerprint` (an InRelease file)."""
    signed.unlink(missing_ok=True)
    _run(home, ["--yes", "--local-user", fingerprint, "--digest-algo", "SHA512", "--output", str(signed),
                "--clearsign", str(document)], str(document))
