"""The one door to pip's configuration and internals.

The index stackdeb resolves and fetches from is the machine's own: pip's configured
index-url (environment, then pip.conf files), or pip's default when none is set.
"""

import os


def configured_index_url() -> str:
    from pip._internal.configuration import Configuration
    from pip._internal.models.index import PyPI

    config = Configuration(isolated=False)
    config.load()
    values = dict(config.items())
    url = (os.environ.get("PIP_INDEX_URL") or values.get("global.index-url")
           or values.get(":env:.index-url") or PyPI.simple_url)
    return url.rstrip("/") + "/"
