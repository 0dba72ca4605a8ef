# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Walk role azure_vm's resource graph (azure_vm_plan.py) against Azure Resource Manager.

Creating: every resource starts as soon as what it needs has finished (not stage by stage), so
the wall time is the graph's critical path, not the sum of its levels. Each is read first and
written only when missing or different: a second run makes no write request. In check mode
nothing is written; what would be is reported (`actions`, and before/after for --diff).

Destroying: each resource once everything that references it is gone, those that are free at
the same time together; data (the database, the storage account) only when asked, and what a
kept resource needs stays with it.
"""

from __future__ import annotations

import copy
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

try:  # Loaded by Ansible as collection content, or by the tests from .cache/collections.
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils import (
        azure_vm_plan as plan_mod,
    )
    from ansible_collections.mlflow_provision.tracking.plugins.module_utils.azure_vm_arm import (
        OPERATIONS,
        differs,
        get_or_none,
        wire,
    )
except ImportError:  # pragma: no cover
    from . import azure_vm_plan as plan_mod  # type: ignore[no-redef]
    from .azure_vm_arm import OPERATIONS, differs, get_or_none, wire  # type: ignore[no-redef]

WORKERS = 16


def _without(body, paths):
    """The body less the values ARM never returns (a password): they cannot be compared."""
    if not paths:
        return body
    out = copy.deepcopy(body)
    for path in paths:
        parts, node = path.split("."), out
        for part in parts[:-1]:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    return out


class Reconciler:
    def __init__(self, arm, resource_group, check_mode):
        self.arm, self.rg, self.check = arm, resource_group, check_mode
        self.actions, self.before, self.after = [], {}, {}

    def _get(self, r):
        return get_or_none(OPERATIONS[r.kind][0], self.arm, self.rg, r.name)

    # --- present -------------------------------------------------------------------------------

    def ensure(self, r, results):
        """Read, compare, write when needed and wait: the resource as ARM has it after."""
        current = self._get(r)
        if r.remove:
            if current is not None:
                self.actions.append(f"delete {r.label}")
                if not self.check:
                    self._delete(r)
            return {}
        body = r.body_for(results)
        if body is None:  # read only
            return current or {}
        if current is not None and not differs(_without(body, r.write_only), current):
            return current
        verb = "create" if current is None else "update"
        self.actions.append(f"{verb} {r.label}")
        self.before[r.label] = _without(current or {}, r.write_only)
        self.after[r.label] = _without(body, r.write_only)
        if self.check:
            return current or _without(body, r.write_only)
        written = OPERATIONS[r.kind][1](self.arm, self.rg, r.name, body)
        if hasattr(written, "result"):
            written = written.result()
        return wire(written) or current or {}

    def present(self, resources):
        results, pending, running = {}, list(resources), {}
        failure = None
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            while pending or running:
                if failure is None:
                    ready = [r for r in pending if all(d in results for d in (*r.deps, *r.after))]
                    for r in ready:
                        pending.remove(r)
                        running[pool.submit(self.ensure, r, dict(results))] = r
                if not running:
                    break
                finished = wait(running, return_when=FIRST_COMPLETED).done
                for future in finished:
                    r = running.pop(future)
                    try:
                        results[r.key] = future.result()
                    except Exception as exc:  # the first failure stops new writes; the
                        failure = failure or exc  # running ones finish (ARM keeps them going)
        if failure is not None:
            raise failure
        if pending:  # pragma: no cover - the plan is built in dependency order
            raise RuntimeError(f"unresolvable dependencies: {[r.key for r in pending]}")
        return results

    # --- absent --------------------------------------------------------------------------------

    def absent(self, resources, destroy_data, delete_group):
        group = next(r for r in resources if r.kind == "resource_group")
        if self._get(group) is None:
            return
        keep = plan_mod.kept(resources, destroy_data)
        doomed = [r for r in resources if r.key not in keep]
        existing = {}
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            found = {r.key: pool.submit(self._get, r) for r in doomed}
            existing = {key for key, future in found.items() if future.result() is not None}
            left = [r for r in doomed if r.key in existing]
            gone = set()
            while left:
                # Free: nothing left references it.
                free = [
                    r for r in left if not any(r.key in o.references for o in left if o is not r)
                ]
                for r in free:
                    self.actions.append(f"delete {r.label}")
                if not self.check:
                    waits = [pool.submit(self._delete, r) for r in free]
                    for future in waits:
                        future.result()
                gone.update(r.key for r in free)
                left = [r for r in left if r.key not in gone]
        if delete_group:
            self.actions.append(f"delete {group.label}")
            if not self.check:
                self._delete(group)

    def _delete(self, r):
        done = OPERATIONS[r.kind][2](self.arm, self.rg, r.name)
        if hasattr(done, "result"):
            done.result()
