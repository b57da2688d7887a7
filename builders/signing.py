"""The archive signing keys: which key signs, which keys the keyring publishes, and the
rotation from one key to the next without breaking a single apt client.

    <repo>/live/signing.json   {"sign_with": FPR, "published": [FPR, ...], "keyring_version": N}
                               (in the generation these keys signed: it changes with it)

Without the file, the one key in the signing home signs and is published (version 1). A
rotation takes three steps, each landing as a repository generation of its own:

    add      a new key is made; the keyring (file and stackdeb-archive-keyring package) carries
             the old and the new key; the old one still signs
    switch   the new key signs; clients that upgraded the keyring package trust it already
    retire   the keyring carries the new key alone
"""

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from builders import log
from builders.errors import StackdebError
from builders.manifest import write_json
from builders.tools import gpg

STATE_FILE = "signing.json"
KEY_LIFETIME = "2y"            # a key that leaks stops being trusted by itself, eventually
WARN_BEFORE = 60 * 86400       # rotate at least this long before the signing key expires
STEPS = ("add", "switch", "retire")


@dataclass
class KeySet:
    sign_with: str
    published: list[str] = field(default_factory=list)
    keyring_version: int = 1

    @property
    def keyring_package_version(self) -> str:
        return f"{self.keyring_version}+{'.'.join(fpr[-8:].lower() for fpr in self.published)}"


def load_keys(directory: Path, home: Path, configured: bool) -> KeySet:
    """The key set recorded in `directory` (the live generation); without a record, the home's
    one key, created first unless the signing home is the operator's."""
    state = directory / STATE_FILE
    if state.is_file():
        try:
            keys = KeySet(**json.loads(state.read_text()))
        except (ValueError, TypeError) as exc:
            raise StackdebError(f"{state} is not a key set: {exc}",
                                hint="restore it from a backup, or remove it to sign with the home's only key")
    elif configured:
        found = gpg.secret_fingerprint(home)
        if not found:
            raise StackdebError(f"no secret key in the configured signing home {home}",
                                hint="import the archive key there, or unset STACKDEB_SIGNING_HOME "
                                     "to have stackdeb create one")
        keys = KeySet(found, [found])
    else:
        found = gpg.ensure_key(home, expire=KEY_LIFETIME)
        keys = KeySet(found, [found])
    _check_expiry(home, keys.sign_with)
    return keys


def _check_expiry(home: Path, fingerprint: str) -> None:
    expires = gpg.expiry(home, fingerprint)
    if expires is None:           # an operator's key: allowed, but said
        log.info(f"warning: the archive signing key {fingerprint[-16:]} never expires: a key that leaks "
                 "stays trusted; give it an expiry date (docs/repository.md)")
        return
    left = expires - time.time()
    day = time.strftime("%Y-%m-%d", time.gmtime(expires))
    if left <= 0:
        raise StackdebError(f"the archive signing key {fingerprint[-16:]} expired on {day}",
                            hint="rotate it: stackdeb repo rotate-key --step add, then switch, then retire")
    if left < WARN_BEFORE:
        log.info(f"warning: the archive signing key {fingerprint[-16:]} expires on {day}: "
                 "rotate it now (docs/repository.md)")


def save_keys(directory: Path, keys: KeySet) -> None:
    write_json(directory / STATE_FILE, asdict(keys))


def next_keys(keys: KeySet, step: str, home: Path) -> KeySet:
    """The key set after one rotation step; refuses a step out of order."""
    if step == "add":
        if len(keys.published) > 1:
            raise StackdebError("a rotation is already under way (two keys are published)",
                                hint="finish it: stackdeb repo rotate-key --step switch, then --step retire")
        new = gpg.generate_key(home, f"stackdeb archive signing key {time.strftime('%Y-%m')} "
                                     "<archive@stackdeb.invalid>", expire=KEY_LIFETIME)
        return KeySet(keys.sign_with, [*keys.published, new], keys.keyring_version + 1)
    if step == "switch":
        if len(keys.published) < 2 or keys.sign_with != keys.published[0]:
            raise StackdebError("nothing to switch to: add a new key first (--step add)")
        return KeySet(keys.published[-1], keys.published, keys.keyring_version)
    if step == "retire":
        if len(keys.published) < 2 or keys.sign_with != keys.published[-1]:
            raise StackdebError("the old key cannot be retired before the new one signs (--step switch)")
        return KeySet(keys.sign_with, [keys.sign_with], keys.keyring_version + 1)
    raise StackdebError(f"unknown rotation step '{step}'", hint=f"one of: {', '.join(STEPS)}")
