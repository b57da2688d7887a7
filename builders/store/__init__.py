"""The artifact store: the bytes stages hand each other (lock, bundle, packages), kept on the
master's side and addressed by their sha256, so that workers need share nothing but the
master. Only names and hashes travel through Buildbot; a worker fetches and uploads bytes
here, and every byte is checked against its hash on arrival, on both sides.

    objects/<aa>/<sha256>        immutable content; PUT /objects/<sha256>, GET /objects/<sha256>
    names/<worker>/<name>        a small JSON record a worker publishes under its own name
                                 (a build's manifest); PUT and GET /names/<worker>/<name>

Every request carries a worker's name and password (HTTP basic auth, the workers of
master.yaml); a worker writes names under its own name only. builders/store/server.py serves
it, builders/store/client.py is what `stackdeb store put|get` uses, and builders/store/stages.py
what a stage exports and imports (`stackdeb store export|import`: the Buildbot steps between
workers that share nothing, master/pipeline.py).
"""
