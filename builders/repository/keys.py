"""Signing key rotation, one step per generation (builders/signing.py)."""

from pathlib import Path

from builders import log
from builders.errors import StackdebError
from builders.signing import next_keys, save_keys
from builders.targets import get_target
from builders.repository.generations import (
    Repository, include_keyring, make_live, new_generation, signing_keys, targets_state,
)




def rotate_key(root: Path, release: str, suite_name: str, step: str) -> int:
    """One step of a signing key rotation (builders/signing.py), as a generation of its own:
    every target's suites are signed again (the key is the archive's, not one target's)."""
    get_target(release, suite_name)
    repo = Repository(root)
    with repo.locked():
        live = repo.live_generation()
        if live is None:
            raise StackdebError("the repository is empty: publish a build set first")
        keys = next_keys(signing_keys(repo), step, repo.gnupg)
        number, work, targets = new_generation(repo, keys)
        save_keys(work, keys)     # goes live with the generation signed by them
        if step != "switch":      # the keyring package changes with the keys it carries
            include_keyring(repo, work, keys, targets)
        event = repo.stamp({"action": "rotate-key", "step": step, "generation": number,
                            "sign_with": keys.sign_with, "published": keys.published})
        make_live(repo, work, number, targets, keys.sign_with, targets_state(work), event)
    log.info(f"key rotation, {step}: generation {number} is live, signed by {keys.sign_with[-16:]}, "
             f"keyring {keys.keyring_package_version}")
    return number
