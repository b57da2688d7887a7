"""Stage 4, the repository: a signed reprepro repository kept in generations, switched atomically.

    <repo>/generations/<n>/     a whole reprepro base directory (conf, db, dists, pool) with
                                every target's two suites, build-set.json (each target's
                                packages) and tested.json (each target's promoted build set);
                                complete once renamed from <n>.partial
    <repo>/live -> generations/<n>
    <repo>/public/              what is served, all through live: dists (with by-hash indexes),
                                pool, the public key and the deb822 .sources snippets; never
                                conf or db
    <repo>/gnupg/               the signing key, created on first use ($STACKDEB_SIGNING_HOME
                                points at an existing GnuPG home instead)
    <repo>/live/history.json    every publish, promotion, rollback and key rotation: who,
                                when, what (inside the generation, so that it changes in the
                                same rename as what it tells; <repo>/history.json before)
    <repo>/live/signing.json    the signing key set, likewise (builders/signing.py)

A publish copies the live generation (pool files hard-linked, the rest copied), adds the
build set with reprepro, signs, verifies the signature, and only then replaces the `live`
symlink: killed at any point, the live repository is the old one or the new one, whole.
Publishers are serialized by a lock file.

Several targets (release x suite) share the repository, its pool and its key, each with a
staging and a tested suite. A change to one target (publish, promote, rollback) re-exports and
re-signs that target's suites only: every other target's files are carried into the new
generation byte for byte. Rollback is per target too: a new generation in which that target's
suites hold an earlier state again.

    generations.py  the generations, the live switch, the targets' states, what suites hold
    incoming.py     the packages a publish is given, checked before anything is written
    publish.py      publish and rollback
    promote.py      promote, from a signed verdict
    keys.py         signing key rotation
    status.py       `repo status` (and page.py, the status page every generation carries)
    serve.py        `repo serve`
"""
