#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sockc maintainers
# Apache License 2.0 (see galaxy.yml)
"""sockc.firewall.repair: attaches again what drifted (`sockc repair`)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: repair
short_description: Re-attach drifted sockc hooks and finish interrupted commands
version_added: "0.1.0"
description:
  - Runs C(sockc repair --json). Every hook that does not run what its install's
    manifest says (a link detached, an interface created again, a clsact filter
    deleted) is attached again from the installed generation's own pins, set maps that
    differ from the manifest are rewritten, and an interrupted sockc command is
    finished. No rule file is read.
  - Reports C(changed) when sockc repaired or recovered something.
author:
  - sockc maintainers (!UNKNOWN)
options:
  name:
    description:
      - One install; all of them when not given.
    type: str
extends_documentation_fragment:
  - sockc.firewall.sockc
attributes:
  check_mode:
    support: full
    description: Reports the drift C(sockc status) sees; repairs nothing.
  diff_mode:
    support: none
    description: No diff.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with sockc installed.
seealso:
  - module: sockc.firewall.info
"""

EXAMPLES = r"""
- name: Re-attach whatever drifted
  sockc.firewall.repair:
"""

RETURN = r"""
installs:
  description: The C(installs) of C(sockc.repair/1) (docs/json.md), what was repaired per install.
  returned: when not in check mode
  type: list
  elements: dict
drifted:
  description: Names of the installs with drift that a repair would fix.
  returned: in check mode
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sockc.firewall.plugins.module_utils import sockc as sk


def repaired_something(install):
    return bool(install.get("recovered") or install.get("drift") or install.get("sets"))


def main():
    module = AnsibleModule(
        argument_spec=sk.argument_spec(
            name=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    sockc = sk.sockc_binary(module)
    if module.check_mode:
        _rc, doc = sk.status(module, sockc, name=p["name"], bpffs=p["bpffs"])
        drifted = [i.get("name") for i in sk.installs_of(doc) if i.get("drift") or i.get("recovered")]
        module.exit_json(changed=bool(drifted), drifted=drifted)
    args = ["repair"]
    if p["name"]:
        args += ["--name", p["name"]]
    if p["bpffs"]:
        args += ["--bpffs", p["bpffs"]]
    _rc, doc, _out, _err = sk.run(module, sockc, args)
    installs = (doc or {}).get("installs") or []
    module.exit_json(changed=any(repaired_something(i) for i in installs), installs=installs)


if __name__ == "__main__":
    main()
