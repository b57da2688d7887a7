"""Buildbot wiring for stackdeb: workers, builders, schedulers, change sources, web UI, authz.

Nothing here builds anything: every step runs a `stackdeb` command, the same one a person
types. master.cfg at the project root loads `config.build_config`.
"""
