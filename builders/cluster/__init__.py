"""Stage 6, cluster: prove a staged build set on a throwaway cluster of VMs.

    network.py     the private network: a namespace, a bridge, dnsmasq, nothing routed out
    services.py    what the run serves on that network: files (images, the staging
                   generation under test), the inventory, the node tasks, the apt proxy
    layout.py      roles -> services and hardware, as data (layouts/*.yaml)
    machines.py    the VMs: discovery boot over iPXE, role matching, the node image written
                   to the disk, the node boot
    configure.py   the tasks each node runs: install from staging, configure, start
    identity.py    keystone's API, for service users and the catalog
    smoke.py       Tempest and stackdeb's own checks, from outside the VMs
    verdict.py     the signed verdict that promotion trusts
    run.py         one run, phase by phase, and the teardown that always happens
"""
