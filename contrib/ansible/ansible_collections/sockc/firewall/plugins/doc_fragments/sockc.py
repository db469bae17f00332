# -*- coding: utf-8 -*-
# Copyright: sockc maintainers
# Apache License 2.0 (see galaxy.yml)
"""The options every sockc.firewall module shares: where sockc keeps installs, which binary."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  bpffs:
    description:
      - The BPF file system sockc keeps its installs on (C(--bpffs)); sockc's default
        C(/sys/fs/bpf) when not given.
    type: path
  executable:
    description:
      - The sockc binary; found on the host's PATH (and C(/usr/bin), C(/usr/sbin),
        C(/usr/local/sbin), C(/usr/local/bin)) when not given.
    type: path
notes:
  - Runs as root on the host (C(become)); sockc needs CAP_BPF and CAP_NET_ADMIN.
"""
