#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sockc maintainers
# Apache License 2.0 (see galaxy.yml)
"""sockc.firewall.confirm: confirms a pending change (`sockc confirm NAME`).

Then, like the last step of sockc.firewall.rules, it moves the files that module staged
for NAME into the rule directory; when sockc says the host already rolled the change
back, it removes them and fails with sockc's reason. The action plugin of
sockc.firewall.rules runs it over a new connection.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: confirm
short_description: Confirm a sockc change that is pending confirmation
version_added: "0.1.0"
description:
  - Runs C(sockc confirm NAME --json). A change applied with C(sockc apply --confirm)
    stays installed once confirmed; unconfirmed, the host puts the previous rules back
    at the deadline by itself.
  - Once the change is confirmed, the files M(sockc.firewall.rules) staged for it
    (C(CONFIG_DIR/.staged/NAME)) become C(CONFIG_DIR/NAME.sk) and its set files, where
    the boot unit applies them from. When the host already rolled the change back, the
    staged files are removed and the task fails with sockc's reason.
  - M(sockc.firewall.rules) runs this module itself, over a new connection, when its
    O(sockc.firewall.rules#module:confirm) option is set; use it directly to confirm a
    change applied by hand.
author:
  - sockc maintainers (!UNKNOWN)
options:
  name:
    description:
      - The install whose change to confirm.
    type: str
    required: true
  config_dir:
    description:
      - The rule directory the staged files move into.
    type: path
    default: /etc/sockc
  only_staged:
    description:
      - Confirm only when the install runs the rules staged for it (their SHA-256 is
        the one C(sockc status) records); otherwise confirm nothing and fail. The
        action plugin of M(sockc.firewall.rules) sets it, so that a task whose apply
        never reached the host (its connection cut first) cannot confirm another
        change pending there.
    type: bool
    default: false
  place:
    description:
      - Move the staged files into O(config_dir) once the change is confirmed. The
        action plugin of M(sockc.firewall.rules) sets it false for an install in
        another network namespace, which the boot unit must not apply.
    type: bool
    default: true
extends_documentation_fragment:
  - sockc.firewall.sockc
attributes:
  check_mode:
    support: none
    description: Confirming is the change; there is nothing to try first.
  diff_mode:
    support: none
    description: No diff.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with a sockc that has C(sockc confirm).
seealso:
  - module: sockc.firewall.rules
"""

EXAMPLES = r"""
- name: Confirm the edge rules applied by hand with sockc apply --confirm
  sockc.firewall.confirm:
    name: edge
"""

RETURN = r"""
confirmation:
  description: The C(sockc.confirm/1) document (C(state) V(confirmed) and C(generation), or V(none) when nothing was pending).
  returned: success
  type: dict
generation:
  description: The confirmed generation.
  returned: when a change was confirmed
  type: int
files_changed:
  description: The files moved from the staging directory into O(config_dir).
  returned: when a change was confirmed
  type: list
  elements: str
rolled_back:
  description: The C(sockc.confirm/1) document saying the host rolled the change back (C(reason), C(at), C(generation)).
  returned: when the host rolled the change back (the task fails)
  type: dict
"""

import hashlib
import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sockc.firewall.plugins.module_utils import sockc as sk


def staged_is_installed(module, install, staged):
    """Whether the staged NAME.sk is the text the install runs (its SHA-256 is the one
    `sockc status` records)."""
    try:
        with open(os.path.join(staged, "%s.sk" % module.params["name"]), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return False
    return install is not None and install.get("source_sha256") == digest


def pending_is_other(module, sockc, staged):
    """Whether a change is pending and the install does not run the staged rules."""
    install = sk.installed(module, sockc)
    pending = install is not None and sk.pending_confirmation(install) is not None
    return pending and not staged_is_installed(module, install, staged)


def main():
    module = AnsibleModule(
        argument_spec=sk.argument_spec(
            name=dict(type="str", required=True),
            config_dir=dict(type="path", default=sk.DEFAULT_CONFIG_DIR),
            only_staged=dict(type="bool", default=False),
            place=dict(type="bool", default=True),
        ),
        supports_check_mode=False,
    )
    p = module.params
    if not p["name"] or "/" in p["name"] or p["name"].startswith("."):
        module.fail_json(msg="name %r cannot name a file in config_dir" % p["name"])
    sockc = sk.sockc_binary(module)
    staged = sk.stage_dir(p["config_dir"], p["name"])
    # (With nothing pending, `sockc confirm` confirms nothing and says what became of
    # the change: rolled back, the usual answer when the apply cut this connection.)
    if p["only_staged"] and pending_is_other(module, sockc, staged):
        shutil.rmtree(staged, ignore_errors=True)
        module.fail_json(
            msg="%s: the install does not run the rules this task staged (its apply did not reach "
            "the host, or another change came after it): nothing confirmed; a change pending "
            "there is rolled back at its deadline" % p["name"])
    args = ["confirm", p["name"]]
    if p["bpffs"]:
        args += ["--bpffs", p["bpffs"]]
    rc, doc, out, err = sk.run(module, sockc, args, ok=(sk.EXIT_OK, sk.EXIT_KERNEL))
    state = (doc or {}).get("state")
    if rc == sk.EXIT_OK and state == "confirmed":
        files = sk.staged_files(staged) if os.path.isdir(staged) else []
        if not p["place"]:
            files = []
        elif files and not staged_is_installed(module, sk.installed(module, sockc), staged):
            # Left by a task whose change never reached the host or was rolled back:
            # the boot unit must apply what was confirmed, not these.
            module.warn("%s: the staged files are not the rules the confirmed change installed: "
                        "not placed in %s" % (p["name"], p["config_dir"]))
            files = []
        sk.place(module, staged, p["config_dir"], files)
        shutil.rmtree(staged, ignore_errors=True)
        module.exit_json(
            changed=True, confirmation=doc, generation=doc.get("generation"),
            files_changed=[os.path.join(p["config_dir"], rel) for rel in files],
        )
    shutil.rmtree(staged, ignore_errors=True)
    if state == "rolled-back":
        module.fail_json(
            msg="%s: the host rolled the change back: %s (at %s, generation %s)"
            % (p["name"], doc.get("reason"), doc.get("at"), doc.get("generation")),
            rolled_back=doc,
        )
    if rc != sk.EXIT_OK:
        sk.fail(module, [sockc] + args, rc, doc, err, out)
    # Nothing pending, and the last change was not rolled back.
    module.exit_json(changed=False, confirmation=doc)


if __name__ == "__main__":
    main()
