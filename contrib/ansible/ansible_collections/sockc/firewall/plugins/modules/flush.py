#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sockc maintainers
# Apache License 2.0 (see galaxy.yml)
"""sockc.firewall.flush: removes a sockc install from the kernel (`sockc flush`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: flush
short_description: Remove a sockc install from the kernel
version_added: "0.1.0"
description:
  - Runs C(sockc flush --name NAME --json), which detaches the install's hooks and removes
    its pins, after which traffic passes as without it. A change still pending confirmation
    is dropped with it (sockc says so).
  - Changes nothing when nothing is installed under that name.
  - Leaves C(/etc/sockc/NAME.sk) in place, so the boot unit applies it again at the next
    boot; M(sockc.firewall.rules) with O(sockc.firewall.rules#module:state=absent)
    removes both.
author:
  - sockc maintainers (!UNKNOWN)
options:
  name:
    description:
      - The install to remove.
    type: str
    required: true
extends_documentation_fragment:
  - sockc.firewall.sockc
attributes:
  check_mode:
    support: full
    description: Says whether the install exists (C(sockc status)), removes nothing.
  diff_mode:
    support: none
    description: No diff.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with sockc installed.
seealso:
  - module: sockc.firewall.rules
"""

EXAMPLES = r"""
- name: Take the edge rules off
  sockc.firewall.flush:
    name: edge
"""

RETURN = r"""
flushed:
  description: The C(sockc.flush/1) document (docs/json.md).
  returned: when an install was removed
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sockc.firewall.plugins.module_utils import sockc as sk


def main():
    module = AnsibleModule(
        argument_spec=sk.argument_spec(
            name=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    sockc = sk.sockc_binary(module)
    bpffs = ["--bpffs", p["bpffs"]] if p["bpffs"] else []
    if module.check_mode:
        rc, _doc = sk.status(module, sockc, name=p["name"], bpffs=p["bpffs"])
        module.exit_json(changed=rc != sk.EXIT_NOTHING_INSTALLED)
    rc, doc, _out, _err = sk.run(
        module, sockc, ["flush", "--name", p["name"]] + bpffs,
        ok=(sk.EXIT_OK, sk.EXIT_NOTHING_INSTALLED),
    )
    if rc == sk.EXIT_NOTHING_INSTALLED:
        module.exit_json(changed=False)
    module.exit_json(changed=True, flushed=doc)


if __name__ == "__main__":
    main()
