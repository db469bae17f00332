#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sockc maintainers
# Apache License 2.0 (see galaxy.yml)
"""The host side of sockc.firewall.rules: stage, dry-run, apply, move into place.

The new rule file (and its set files) is staged on the host first, so that check mode
and the plan are sockc's dry run of the new content against what is installed. The
file the boot unit reads (CONFIG_DIR/NAME.sk) is replaced only after the apply
succeeded and, with `confirm`, only after the controller confirmed the change over a
new connection (the action plugin runs sockc.firewall.confirm, which moves the staged
files into place).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rules
short_description: Make a sockc install match a rule file, with commit-confirmed applies
version_added: "0.1.0"
description:
  - Makes the sockc install O(name) run the rules of O(src) or O(content) (and the
    set files they read), and keeps a copy in C(CONFIG_DIR/NAME.sk), where the boot
    unit C(sockc.service) applies it from.
  - The new rules are staged on the host and compared with the install by
    C(sockc apply STAGED --dry-run --exit-code --json), which also runs the kernel
    verifier on the new programs. The task reports C(changed) only when that plan
    changes something (exit code 4) or a file in C(CONFIG_DIR) differs.
  - In check mode nothing changes on the host; the answer is the dry run of the new
    content. In diff mode the task shows the installed rules (C(sockc show NAME))
    against the new ones, and which packets change their verdict
    (C(sockc diff --installed NAME STAGED)).
  - With O(confirm), the apply is commit-confirmed (C(sockc apply --confirm));
    unless the controller confirms within O(confirm) seconds, the host puts the
    previous rules back by itself. The controller confirms (C(sockc confirm NAME)) over
    a new connection after the apply, so a change that cuts SSH is rolled back by the
    host and the task fails with sockc's reason. The staged file becomes
    C(CONFIG_DIR/NAME.sk) only once the change is confirmed.
  - All decisions are sockc's own; the module passes arguments and reports sockc's
    JSON documents.
author:
  - sockc maintainers (!UNKNOWN)
options:
  name:
    description:
      - The install's name (C(sockc apply --name)); the file is C(CONFIG_DIR/NAME.sk).
    type: str
    required: true
  state:
    description:
      - V(present) installs the rules; V(absent) flushes the install and removes its
        file (and the set files listed in O(set_files)) from O(config_dir).
    type: str
    choices: [present, absent]
    default: present
  src:
    description:
      - A rule file on the controller, copied to the host's temporary directory by
        the action plugin (which passes the copy's path to the module).
      - Mutually exclusive with O(content).
    type: path
  content:
    description:
      - The rules as text. Mutually exclusive with O(src).
    type: str
  set_files:
    description:
      - Set files the rules read (C(set NAME = file "PATH")), placed at PATH relative
        to O(config_dir), as the rule file names them.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description:
          - The path the rule file names, relative to the rule file's directory.
        type: str
        required: true
      src:
        description:
          - The set file on the controller, copied like O(src). Mutually exclusive with
            O(set_files[].content).
        type: path
      content:
        description:
          - The set file's text. Mutually exclusive with O(set_files[].src).
        type: str
  netns:
    description:
      - Install into this network namespace (C(sockc apply --netns)).
      - Such an install is not written to O(config_dir), and the task warns so. The
        boot unit applies those files in the host's own namespace, where the rules
        would reach the host's interfaces of the same names. A namespace does not
        outlive a reboot; run the task again once it is made.
    type: str
  confirm:
    description:
      - Seconds the change may stay unconfirmed (C(sockc apply --confirm)). The
        controller confirms over a new connection after the apply; when it cannot
        reconnect, the host rolls the change back when this runs out.
      - Without it, the apply is immediate and final.
    type: int
  confirm_delay:
    description:
      - Seconds the controller waits after the apply before it confirms, so that the
        host's O(probes) run for a while first. Handled by the action plugin.
    type: int
    default: 0
  probes:
    description:
      - Host-side probes (C(sockc apply --probe), for example V(tcp:10.0.0.1:5432));
        the host connects there until the deadline and rolls back at once when one
        fails. Only with O(confirm).
    type: list
    elements: str
    default: []
  label:
    description:
      - The logical source sockc records for the install (C(sockc apply --label)),
        shown by C(sockc status) and C(sockc show). Without it sockc records the path
        it applied from (the staged file).
    type: str
  config_dir:
    description:
      - Where the rule files the boot unit applies live.
    type: path
    default: /etc/sockc
extends_documentation_fragment:
  - sockc.firewall.sockc
attributes:
  check_mode:
    support: full
    description: The dry run of the new content, staged in a temporary directory.
  diff_mode:
    support: full
    description: The installed rules against the new ones, and the packets whose verdict changes.
  action:
    support: full
    description: An action plugin copies O(src) and set files and confirms over a new connection.
  platform:
    support: full
    platforms: posix
    description: Linux hosts with sockc installed (the sockc.firewall.host role installs it).
requirements:
  - sockc on the host; commit-confirmed applies (O(confirm), O(probes), O(label)) need
    a sockc with C(apply --confirm) and C(sockc confirm).
notes:
  - Use with O(confirm) under C(serial) and C(max_fail_percentage=0), so that a change
    that cuts a host off stops the rollout at that host.
seealso:
  - module: sockc.firewall.confirm
  - module: sockc.firewall.info
  - module: sockc.firewall.flush
  - module: sockc.firewall.repair
"""

EXAMPLES = r"""
- name: Edge rules, confirmed over a new SSH connection within 60 seconds
  sockc.firewall.rules:
    name: edge
    src: files/edge.sk
    set_files:
      - dest: blocked.txt
        src: files/blocked.txt
    confirm: 60
    probes:
      - tcp:10.0.0.1:5432
    confirm_delay: 10
    label: "ansible:files/edge.sk"

- name: Inline rules in another network namespace
  sockc.firewall.rules:
    name: lab
    netns: lab
    content: |
      xdp on eth0 {
          drop tcp to *:8081
          default allow
      }

- name: Remove the install and its file
  sockc.firewall.rules:
    name: edge
    state: absent
"""

RETURN = r"""
name:
  description: The install's name.
  returned: always
  type: str
  sample: edge
plan_changed:
  description: Whether sockc's dry run of the new rules planned a change (exit code 4).
  returned: when O(state=present)
  type: bool
files_changed:
  description: Files in O(config_dir) that differed from the new ones (and were replaced, unless in check mode).
  returned: when O(state=present)
  type: list
  elements: str
  sample: [/etc/sockc/edge.sk]
semantic:
  description: Which packets change their verdict, from the dry run (C(semantic) of C(sockc.apply/1), docs/json.md).
  returned: when O(state=present)
  type: dict
plan:
  description: The dry run's plan (C(plan) of C(sockc.apply/1)).
  returned: when O(state=present)
  type: dict
generation:
  description: The install's generation after the apply (the dry run's when nothing was applied).
  returned: when O(state=present)
  type: int
  sample: 3
applied:
  description: The C(sockc.apply/1) document of the real apply.
  returned: when the rules were applied
  type: dict
confirmation:
  description:
    - The change's confirmation, C(sockc.confirm/1) once the controller confirmed it,
      else the pending state the apply reported (C(state), C(deadline), C(rollback_to), C(probes)).
  returned: with O(confirm), when the rules were applied
  type: dict
rolled_back:
  description: The C(sockc.confirm/1) document saying the host rolled the change back, and why.
  returned: when the host rolled the change back (the task fails)
  type: dict
flushed:
  description: The C(sockc.flush/1) document.
  returned: when O(state=absent) flushed an install
  type: dict
"""

import filecmp
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sockc.firewall.plugins.module_utils import sockc as sk


def argument_spec():
    return sk.argument_spec(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        src=dict(type="path"),
        content=dict(type="str"),
        set_files=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                dest=dict(type="str", required=True),
                src=dict(type="path"),
                content=dict(type="str"),
            ),
            mutually_exclusive=[("src", "content")],
            required_one_of=[("src", "content")],
        ),
        netns=dict(type="str"),
        confirm=dict(type="int"),
        confirm_delay=dict(type="int", default=0),
        probes=dict(type="list", elements="str", default=[]),
        label=dict(type="str"),
        config_dir=dict(type="path", default=sk.DEFAULT_CONFIG_DIR),
    )


def check_relative(module, path, what):
    """A path of a file inside the config directory: relative, no `..`, `.` or empty
    part (so no trailing `/`), not hidden staging."""
    parts = path.split("/")
    bad_part = any(part in ("", ".", "..") for part in parts)
    if os.path.isabs(path) or bad_part or parts[0] == sk.STAGING:
        module.fail_json(msg="%s %r must be a relative path inside config_dir" % (what, path))


def check_distinct(module, paths):
    """Each file placed once: no two the same, none a directory of another."""
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            if a == b or b.startswith(a + "/") or a.startswith(b + "/"):
                module.fail_json(msg="set file %r and %r cannot both be placed in config_dir" % (a, b))


def staged_layout(module):
    """(relative path, content or None, source file or None) of every file to place."""
    p = module.params
    rule = "%s.sk" % p["name"]
    files = [(rule, p["content"], p["src"])]
    for entry in p["set_files"]:
        check_relative(module, entry["dest"], "set file")
        files.append((entry["dest"], entry["content"], entry["src"]))
    check_distinct(module, [f[0] for f in files])
    return files


def stage(module, stage_dir):
    """Writes the new rule file and set files under stage_dir; returns their paths."""
    written = []
    for rel, content, source in staged_layout(module):
        path = os.path.join(stage_dir, rel)
        sk.make_private_dir(os.path.dirname(path))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            if content is not None:
                out.write(content.encode("utf-8"))
            else:
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, out)
        written.append(rel)
    return written


def differing(stage_dir, config_dir, written):
    """The final paths whose file is missing or differs from the staged one."""
    changed = []
    for rel in written:
        final = os.path.join(config_dir, rel)
        if not os.path.isfile(final) or not filecmp.cmp(
            os.path.join(stage_dir, rel), final, shallow=False
        ):
            changed.append(final)
    return changed


def new_stage(module):
    """A fresh staging directory: a temporary one in check mode, else CONFIG_DIR/.staged/NAME."""
    if module.check_mode:
        return tempfile.mkdtemp(prefix="sockc-", dir=module.tmpdir)
    config_dir = module.params["config_dir"]
    sk.make_private_dir(config_dir)
    sk.make_private_dir(os.path.join(config_dir, sk.STAGING))
    stage_dir = sk.stage_dir(config_dir, module.params["name"])
    shutil.rmtree(stage_dir, ignore_errors=True)
    os.mkdir(stage_dir, 0o700)
    return stage_dir


def dry_run(module, sockc, rule):
    p = module.params
    args = ["apply", rule, "--name", p["name"]] + sk.location_args(p)
    args += ["--dry-run", "--exit-code"]
    rc, doc, _out, _err = sk.run(module, sockc, args, ok=(sk.EXIT_OK, sk.EXIT_CHANGES))
    return rc == sk.EXIT_CHANGES, doc


def diff_of(module, sockc, rule):
    """Installed rules (sockc show) against the new file, and sockc's verdict diff."""
    name = module.params["name"]
    bpffs = ["--bpffs", module.params["bpffs"]] if module.params["bpffs"] else []
    rc, shown, _out, _err = sk.run(
        module, sockc, ["show", name] + bpffs, ok=(sk.EXIT_OK, sk.EXIT_NOTHING_INSTALLED, sk.EXIT_KERNEL)
    )
    installed = rc != sk.EXIT_NOTHING_INSTALLED and shown and "text" in shown
    with open(rule, "r") as f:
        after = f.read()
    rules_diff = dict(
        before=shown["text"] if installed else "",
        after=after,
        before_header="installed %s (generation %s)" % (name, shown["generation"]) if installed else "nothing installed as %s" % name,
        after_header=module.params["src"] or "content",
    )
    if not installed:
        return [rules_diff]
    # Run beside the staged file, so that sockc names it NAME.sk, not by its staging path.
    # Exit 3 with drift (a hook that does not run the install's records) is said, and
    # left to the apply, which attaches it again; any other exit 3 fails the task.
    cmd = ["diff", "--installed", name, os.path.basename(rule)] + bpffs
    rc, _doc, verdicts, err = sk.run(
        module, sockc, cmd,
        ok=(sk.EXIT_OK, sk.EXIT_CHANGES, sk.EXIT_KERNEL), json_output=False, cwd=os.path.dirname(rule),
    )
    drifts = "does not run what its records say" in err
    if rc == sk.EXIT_KERNEL and not drifts:
        sk.fail(module, [sockc] + cmd, rc, None, err, verdicts)
    prepared = "packets whose verdict changes (sockc diff --installed %s):\n%s" % (name, verdicts)
    if drifts:
        prepared += "\nthe install drifts (the apply attaches its hooks again):\n%s" % err
    return [rules_diff, dict(prepared=prepared)]


def real_apply(module, sockc, rule):
    p = module.params
    args = ["apply", rule, "--name", p["name"]] + sk.location_args(p)
    if p["label"]:
        args += ["--label", p["label"]]
    if p["confirm"] is not None:
        args += ["--confirm", "%ds" % p["confirm"]]
        for probe in p["probes"]:
            args += ["--probe", probe]
    _rc, doc, _out, _err = sk.run(module, sockc, args)
    return doc


def present(module, sockc):
    p = module.params
    if p["probes"] and p["confirm"] is None:
        module.fail_json(msg="probes need confirm: a failing probe rolls back a pending change")
    delay = p["confirm_delay"] or 0
    if delay < 0 or (p["confirm"] is not None and delay >= p["confirm"]):
        # The controller would confirm after the deadline: the change always rolls back.
        module.fail_json(msg="confirm_delay must be at least 0 and less than confirm (%s), not %s"
                         % (p["confirm"], delay))
    stage_dir = new_stage(module)
    keep_stage = False
    try:
        written = stage(module, stage_dir)
        rule = os.path.join(stage_dir, written[0])
        plan_changed, planned = dry_run(module, sockc, rule)
        # The boot unit applies config_dir's files in the host's own namespace: an
        # install in another one is not written there (its rules would go on the
        # host's interfaces of the same names at the next boot).
        persist = not p["netns"]
        files_changed = differing(stage_dir, p["config_dir"], written) if persist else []
        installed = sk.installed(module, sockc)
        pending = sk.pending_confirmation(installed) if installed is not None else None
        # The dry run does not compare labels: a new label alone is a change to apply
        # (sockc records it without a new generation).
        relabel = p["label"] is not None and installed is not None and installed.get("label") != p["label"]
        plan_changed = plan_changed or relabel
        if pending is not None and plan_changed and p["confirm"] is None and not module.check_mode:
            module.fail_json(
                msg="a change of %s is pending confirmation until %s (applied outside this task): "
                "this task's apply would join it and be rolled back with it at its deadline; "
                "confirm it (sockc confirm %s) or let it roll back first, or run this task with confirm"
                % (p["name"], pending.get("deadline"), p["name"]),
                confirmation=pending)
        if plan_changed:
            pending = None
        result = dict(
            changed=plan_changed or bool(files_changed) or pending is not None,
            name=p["name"],
            plan_changed=plan_changed,
            files_changed=files_changed,
            semantic=planned.get("semantic"),
            plan=planned.get("plan"),
            generation=planned.get("generation"),
        )
        if module._diff:
            result["diff"] = diff_of(module, sockc, rule)
        if module.check_mode:
            module.exit_json(**result)
        if plan_changed:
            applied = real_apply(module, sockc, rule)
            result["applied"] = applied
            result["generation"] = applied.get("generation")
            pending = applied.get("confirmation") if p["confirm"] is not None else None
        elif pending is not None and p["confirm"] is None:
            module.warn("a change of %s is pending confirmation until %s: run this task with confirm, or sockc confirm %s"
                        % (p["name"], pending.get("deadline"), p["name"]))
            pending = None
        if pending is not None:
            # The controller confirms over a new connection (sockc.firewall.confirm),
            # which moves the staged files into place.
            result["confirmation"] = pending
            result["_confirm_pending"] = True
            keep_stage = True
            module.exit_json(**result)
        if persist:
            sk.place(module, stage_dir, p["config_dir"], written)
        else:
            module.warn("%s is installed in network namespace %s and not written to %s: the boot unit "
                        "applies those files in the host's namespace" % (p["name"], p["netns"], p["config_dir"]))
            # One written before (the install was in the host's namespace then) would
            # be applied there at the next boot.
            stale = os.path.join(p["config_dir"], "%s.sk" % p["name"])
            if os.path.lexists(stale):
                os.unlink(stale)
                result["files_removed"] = [stale]
        module.exit_json(**result)
    finally:
        if not keep_stage:
            shutil.rmtree(stage_dir, ignore_errors=True)


def absent(module, sockc):
    p = module.params
    rc, _doc = sk.status(module, sockc, name=p["name"], bpffs=p["bpffs"])
    installed = rc != sk.EXIT_NOTHING_INSTALLED
    paths = [os.path.join(p["config_dir"], "%s.sk" % p["name"])]
    for entry in p["set_files"]:
        check_relative(module, entry["dest"], "set file")
        paths.append(os.path.join(p["config_dir"], entry["dest"]))
    present_files = [path for path in paths if os.path.lexists(path)]
    result = dict(changed=installed or bool(present_files), name=p["name"], files_removed=present_files)
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)
    if installed:
        args = ["flush", "--name", p["name"]]
        if p["bpffs"]:
            args += ["--bpffs", p["bpffs"]]
        _rc, result["flushed"], _out, _err = sk.run(module, sockc, args, ok=(sk.EXIT_OK, sk.EXIT_NOTHING_INSTALLED))
    for path in present_files:
        os.unlink(path)
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("src", "content")],
        required_if=[("state", "present", ("src", "content"), True)],
        supports_check_mode=True,
    )
    name = module.params["name"]
    if not name or "/" in name or name.startswith("."):
        module.fail_json(msg="name %r cannot name a file in config_dir" % name)
    sockc = sk.sockc_binary(module)
    if module.params["state"] == "absent":
        absent(module, sockc)
    else:
        present(module, sockc)


if __name__ == "__main__":
    main()
