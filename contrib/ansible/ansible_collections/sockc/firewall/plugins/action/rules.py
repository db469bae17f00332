# -*- coding: utf-8 -*-
# Copyright: sockc maintainers
# Apache License 2.0 (see galaxy.yml)
"""The controller side of sockc.firewall.rules.

It copies `src` and the set files' sources to the host's temporary directory, runs the
module (which stages, dry-runs and applies), and, when the apply left a change pending
confirmation, confirms it the way community.general.iptables_state confirms a restore:
the persistent connection is reset, and sockc.firewall.confirm (`sockc confirm NAME`,
then the staged files moved into place) runs over a *new* connection. A change that cut SSH keeps every
new connection out, so nothing confirms it and the host rolls it back by itself at the
deadline; the controller keeps trying until the deadline has passed (plus a margin),
then reports sockc's reason and fails the task. The rollback itself never depends on
this plugin: the host does it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

MODULE = "sockc.firewall.rules"
CONFIRM_MODULE = "sockc.firewall.confirm"

# Seconds past the confirm deadline that the controller keeps trying to reconnect:
# the host rolls back at the deadline, and the next connection then reads why.
RECONNECT_MARGIN = 30


class ActionModule(ActionBase):

    TRANSFERS_FILES = True

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # not used since ansible-core 2.5
        args = dict(self._task.args)
        try:
            if self._connection._shell.tmpdir is None:
                self._make_tmp_path()
            if args.get("state", "present") == "present":
                self._copy_sources(args)
            result.update(self._apply_and_confirm(args, task_vars))
        except AnsibleError as e:
            result.update(failed=True, msg=to_text(e))
        finally:
            self._remove_tmp_dir()
        return result

    def _remove_tmp_dir(self):
        """Removes the host's tmpdir; a host that stays unreachable keeps it (and the task's own answer)."""
        try:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        except AnsibleConnectionFailure as e:
            display.warning("could not remove the temporary directory on the host: %s" % to_text(e))

    def _copy_sources(self, args):
        """src and set_files[].src: controller files copied to the host's tmpdir."""
        tmpdir = self._connection._shell.tmpdir
        copied = []
        if args.get("src"):
            remote = self._connection._shell.join_path(tmpdir, "rules.sk")
            self._transfer_file(self._local_file(args["src"]), remote)
            args["src"] = remote
            copied.append(remote)
        set_files = []
        for i, entry in enumerate(args.get("set_files") or []):
            if isinstance(entry, dict) and entry.get("src"):
                remote = self._connection._shell.join_path(tmpdir, "set-%d" % i)
                self._transfer_file(self._local_file(entry["src"]), remote)
                entry = dict(entry, src=remote)
                copied.append(remote)
            set_files.append(entry)
        if set_files:
            args["set_files"] = set_files
        if copied:
            self._fixup_perms2([tmpdir] + copied, execute=False)

    def _local_file(self, path):
        try:
            found = self._find_needle("files", path)
        except AnsibleError as e:
            raise AnsibleActionFail(to_text(e))
        return self._loader.get_real_file(found, decrypt=True)

    def _apply_and_confirm(self, args, task_vars):
        confirm = args.get("confirm")
        started = time.time()
        try:
            result = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        except AnsibleConnectionFailure as e:
            if confirm is None or self._task.check_mode:
                raise
            # The answer was lost (a change that cuts SSH may cut the session that
            # applied it). sockc confirm says what became of the change.
            display.warning("%s: the apply's answer was lost (%s); confirming over a new connection"
                            % (args.get("name"), to_text(e)))
            result = {"changed": True, "name": args.get("name")}
            return self._confirm(args, task_vars, result, started)
        self._name_source(result)
        if not result.pop("_confirm_pending", False):
            return result
        return self._confirm(args, task_vars, result, started)

    def _name_source(self, result):
        """The diff names the file as the task does (src on the controller), not its copy."""
        diff = result.get("diff")
        if self._task.args.get("src") and isinstance(diff, list) and diff and "after_header" in diff[0]:
            diff[0]["after_header"] = self._task.args["src"]

    def _confirm(self, args, task_vars, applied, started):
        """Runs the confirm phase over new connections until it answers or time is up."""
        give_up = started + int(args["confirm"]) + RECONNECT_MARGIN
        delay = int(args.get("confirm_delay") or 0)
        if delay:
            time.sleep(delay)
        confirm_args = dict((k, args[k]) for k in ("name", "config_dir", "bpffs", "executable") if args.get(k) is not None)
        confirm_args["only_staged"] = True
        # rules writes no file of an install in another namespace (the boot unit
        # would apply it in the host's).
        confirm_args["place"] = not args.get("netns")
        while True:
            self._reset_connection()
            try:
                confirmed = self._execute_module(module_name=CONFIRM_MODULE, module_args=confirm_args, task_vars=task_vars)
                break
            except AnsibleConnectionFailure as e:
                if time.time() >= give_up:
                    return dict(
                        applied, failed=True, unreachable=False,
                        msg="%s: could not reconnect to confirm within %ds of the apply (%s); the host "
                            "rolls the change back by itself at its deadline"
                            % (args.get("name"), int(args["confirm"]) + RECONNECT_MARGIN, to_text(e)),
                    )
                display.vv("%s: no new connection yet (%s)" % (args.get("name"), to_text(e)))
                time.sleep(1)
        if not confirmed.get("failed") and not confirmed.get("changed"):
            confirmed.update(
                failed=True,
                msg="%s: nothing was pending confirmation after the apply (its answer was lost): run the task again"
                    % args.get("name"),
            )
        for key in ("name", "semantic", "plan", "applied", "plan_changed", "diff"):
            if key in applied and key not in confirmed:
                confirmed[key] = applied[key]
        confirmed["pending"] = applied.get("confirmation")
        return confirmed

    def _reset_connection(self):
        """Closes the persistent connection, so that the next command opens a new one."""
        try:
            self._connection.reset()
        except AttributeError:
            display.warning("the connection plugin cannot reset its connection: confirming over the old one")
