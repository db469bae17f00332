# -*- coding: utf-8 -*-
# Copyright: sockc maintainers
# Apache License 2.0 (see galaxy.yml)
"""Runs sockc's JSON interface for the collection's modules.

Every decision stays in the sockc binary: this module finds the binary, builds the
command line from the module's parameters, runs it with AnsibleModule.run_command
(an argument list, never a shell), parses the one JSON document sockc prints on stdout
(docs/json.md) and turns a failure document into fail_json with sockc's own message,
exit code and diagnostics. It interprets no rule, plan or status itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

# sockc's exit codes (README, "Commands").
EXIT_OK = 0
EXIT_NOTHING_INSTALLED = 1
EXIT_KERNEL = 3
EXIT_CHANGES = 4

DEFAULT_CONFIG_DIR = "/etc/sockc"

# sockc.firewall.rules stages a change in CONFIG_DIR/.staged/NAME until it is applied
# (and confirmed); the boot unit's glob (CONFIG_DIR/*.sk) never sees it.
STAGING = ".staged"

# Where the Debian package and scripts/install put the binary, searched after PATH.
SEARCH_DIRS = ["/usr/bin", "/usr/sbin", "/usr/local/sbin", "/usr/local/bin"]


def argument_spec(**options):
    """A module's argument_spec: its own options and the shared ones (doc fragment sockc.firewall.sockc)."""
    spec = dict(bpffs=dict(type="path"), executable=dict(type="path"))
    spec.update(options)
    return spec


def sockc_binary(module):
    """The sockc binary: the module's `executable`, else found on the host."""
    given = module.params.get("executable")
    if given:
        return given
    return module.get_bin_path("sockc", required=True, opt_dirs=SEARCH_DIRS)


def parse_document(out):
    """The JSON document on sockc's stdout, or None when there is none."""
    text = out.strip()
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def error_message(doc, err):
    """sockc's own words for a failure: its failure document, else its stderr."""
    if doc and isinstance(doc.get("error"), dict):
        return doc["error"].get("message") or ""
    return (err or "").strip()


def run(module, sockc, args, ok=(EXIT_OK,), json_output=True, cwd=None):
    """Runs `sockc ARGS [--json]` (in cwd); fails the task unless the exit code is in `ok`.

    Returns (rc, document or None, stdout, stderr).
    """
    cmd = [sockc] + list(args)
    if json_output:
        cmd.append("--json")
    rc, out, err = module.run_command(cmd, environ_update={"LC_ALL": "C"}, cwd=cwd)
    doc = parse_document(out) if json_output else None
    if rc not in ok:
        fail(module, cmd, rc, doc, err, out)
    return rc, doc, out, err


def fail(module, cmd, rc, doc, err, out="", **extra):
    """fail_json with what sockc said: message, exit code, diagnostics, stderr."""
    message = error_message(doc, err) or "exit code %d" % rc
    result = dict(
        msg="%s: %s" % (" ".join(cmd[1:3]), message),
        rc=rc,
        cmd=cmd,
        stderr=err,
    )
    if doc is not None:
        result["diagnostics"] = doc.get("diagnostics") or []
        result["sockc"] = doc
    elif out:
        result["stdout"] = out
    result.update(extra)
    module.fail_json(**result)


def location_args(params):
    """The --netns and --bpffs arguments of the module's parameters."""
    args = []
    if params.get("netns"):
        args += ["--netns", params["netns"]]
    if params.get("bpffs"):
        args += ["--bpffs", params["bpffs"]]
    return args


def status(module, sockc, name=None, bpffs=None, deep=False):
    """`sockc status [--name NAME] --json`: (rc, document). rc 3 is drift, not a failure."""
    args = ["status"]
    if name:
        args += ["--name", name]
    if bpffs:
        args += ["--bpffs", bpffs]
    if deep:
        args.append("--deep")
    rc, doc, _out, _err = run(
        module, sockc, args, ok=(EXIT_OK, EXIT_NOTHING_INSTALLED, EXIT_KERNEL)
    )
    if doc is None or "error" in doc and rc != EXIT_NOTHING_INSTALLED:
        fail(module, [sockc] + args, rc, doc, _err, _out)
    return rc, doc


def installs_of(status_doc):
    """The installs a status document lists (none when nothing is installed)."""
    if not status_doc or "error" in status_doc:
        return []
    return status_doc.get("installs") or []


def installed(module, sockc):
    """The entry of the install the module's `name` names in `sockc status`, or None."""
    name = module.params["name"]
    _rc, doc = status(module, sockc, name=name, bpffs=module.params["bpffs"])
    return next((i for i in installs_of(doc) if i.get("name") == name), None)


def pending_confirmation(install):
    """The install's pending confirmation (issue 46 contract), or None.

    Status documents from before commit-confirmed applies have no `confirmation`
    field: nothing is pending there.
    """
    confirmation = install.get("confirmation")
    if isinstance(confirmation, dict) and confirmation.get("state") == "pending":
        return confirmation
    return None


def make_private_dir(path):
    """Makes path (and its parents) 0700 where missing."""
    if not os.path.isdir(path):
        os.makedirs(path, 0o700)


def stage_dir(config_dir, name):
    """Where sockc.firewall.rules stages the change of install NAME."""
    return os.path.join(config_dir, STAGING, name)


def staged_files(directory):
    """Every file under directory, relative to it (a rule file and its set files)."""
    found = []
    for root, _dirs, files in os.walk(directory):
        for f in files:
            found.append(os.path.relpath(os.path.join(root, f), directory))
    return sorted(found)


def place(module, staged, config_dir, files):
    """Moves each staged file to the same relative path in config_dir, one rename each."""
    for rel in files:
        final = os.path.join(config_dir, rel)
        make_private_dir(os.path.dirname(final))
        # atomic_move gives a new file the umask's mode: private from the start.
        umask = os.umask(0o077)
        try:
            module.atomic_move(os.path.join(staged, rel), final)
        finally:
            os.umask(umask)
        os.chmod(final, 0o600)
