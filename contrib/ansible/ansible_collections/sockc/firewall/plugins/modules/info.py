#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sockc maintainers
# Apache License 2.0 (see galaxy.yml)
"""sockc.firewall.info: what a host's sockc installs are, read back from the kernel.

Reports `sockc status --json` and `sockc stats --json` as they are, plus two lists
made from them for `when:` and `assert:` (installs with drift, installs whose change
is pending confirmation). Reads only; changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: info
short_description: Status, drift, counters and pending confirmations of a host's sockc installs
version_added: "0.1.0"
description:
  - Runs C(sockc status --json) (and C(sockc stats --json)) on the host and returns
    the documents, read back from the kernel, with the names of the installs that
    drifted (a hook detached, another program attached, a set map changed behind
    sockc's back) and of those whose last change is still pending confirmation.
  - Changes nothing. Drift is repaired by M(sockc.firewall.repair).
author:
  - sockc maintainers (!UNKNOWN)
options:
  name:
    description:
      - One install; all of them when not given.
    type: str
  deep:
    description:
      - Compare set maps entry by entry with the manifest (C(sockc status --deep)).
    type: bool
    default: false
  counters:
    description:
      - Also read per-rule packet and byte counters (C(sockc stats --json)).
    type: bool
    default: true
  fail_on_drift:
    description:
      - Fail the task when an install drifted.
    type: bool
    default: false
extends_documentation_fragment:
  - sockc.firewall.sockc
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to show.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with sockc installed.
seealso:
  - module: sockc.firewall.rules
  - module: sockc.firewall.repair
"""

EXAMPLES = r"""
- name: Read every install
  sockc.firewall.info:
  register: fw

- name: Stop when a host's hooks drifted
  ansible.builtin.assert:
    that: fw.drifted | length == 0
    fail_msg: "drift on {{ inventory_hostname }}: {{ fw.drifted }}"

- name: One install, set maps compared entry by entry
  sockc.firewall.info:
    name: edge
    deep: true
    fail_on_drift: true
"""

RETURN = r"""
installs:
  description: The C(installs) of C(sockc.status/1) (docs/json.md), one per install.
  returned: always
  type: list
  elements: dict
drifted:
  description: Names of the installs with drift (a non-empty C(drift) list).
  returned: always
  type: list
  elements: str
  sample: [edge]
pending:
  description: Names of the installs whose last change is pending confirmation.
  returned: always
  type: list
  elements: str
counters:
  description: The C(installs) of C(sockc.stats/1), per-rule packets and bytes.
  returned: when O(counters=true)
  type: list
  elements: dict
status:
  description: The whole C(sockc.status/1) document.
  returned: always
  type: dict
status_rc:
  description: sockc status's exit code (0 fine, 1 nothing installed, 3 drift).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sockc.firewall.plugins.module_utils import sockc as sk


def counters(module, sockc):
    args = ["stats"]
    if module.params["name"]:
        args += ["--name", module.params["name"]]
    if module.params["bpffs"]:
        args += ["--bpffs", module.params["bpffs"]]
    _rc, doc, _out, _err = sk.run(
        module, sockc, args, ok=(sk.EXIT_OK, sk.EXIT_NOTHING_INSTALLED, sk.EXIT_KERNEL)
    )
    return (doc or {}).get("installs") or []


def main():
    module = AnsibleModule(
        argument_spec=sk.argument_spec(
            name=dict(type="str"),
            deep=dict(type="bool", default=False),
            counters=dict(type="bool", default=True),
            fail_on_drift=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    sockc = sk.sockc_binary(module)
    rc, doc = sk.status(module, sockc, name=p["name"], bpffs=p["bpffs"], deep=p["deep"])
    installs = sk.installs_of(doc)
    result = dict(
        changed=False,
        status=doc,
        status_rc=rc,
        installs=installs,
        drifted=[i.get("name") for i in installs if i.get("drift")],
        pending=[i.get("name") for i in installs if sk.pending_confirmation(i)],
    )
    if p["counters"] and installs:
        result["counters"] = counters(module, sockc)
    if p["fail_on_drift"] and result["drifted"]:
        module.fail_json(msg="drift in %s" % ", ".join(result["drifted"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
