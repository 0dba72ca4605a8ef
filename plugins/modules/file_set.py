#!/usr/bin/python
# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Several files in one module run: what a loop of template/copy tasks did, one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
module: file_set
short_description: Write several files (and directories) in one module run, each only when it differs
description:
  - Each file gets exactly the given content, owner, group and mode. A file whose content differs
    is written to a temporary file in the same directory, checked with its O(files[].validate)
    command when given, and moved into place atomically; a file that differs only in owner, group
    or mode has those fixed in place; a file that is right is not touched.
  - What a loop of M(ansible.builtin.template) or M(ansible.builtin.copy) tasks does, in one
    module run instead of one per file (each costs a round trip to the host). Render the content
    on the controller with C(lookup('ansible.builtin.template', ...)) or read it with
    C(lookup('ansible.builtin.file', ..., rstrip=false)).
  - An entry with O(files[].state=directory) is a directory (made with its missing parents,
    each with the entry's owner, group and mode), one with O(files[].state=absent) a file that
    must not exist. Entries are handled in their order.
  - A file's validation runs on a copy named like the file (in a private directory beside it), so
    that commands that judge a file by its name (C(systemd-analyze verify)) see the real name.
  - Supports check and diff mode. The diff shows contents, so put C(no_log) on a task whose files
    hold secrets.
options:
  files:
    description: The files.
    type: list
    elements: dict
    required: true
    suboptions:
      dest: {type: path, required: true, description: Absolute path of the file.}
      state:
        type: str
        choices: [file, directory, absent]
        default: file
        description: A file with O(files[].content), a directory, or no file at all.
      content:
        type: str
        description:
          - The whole content (state C(file); it or O(files[].src) is required there).
          - Put C(no_log) on the task when a file holds secrets (its diff shows it).
      src:
        type: path
        description: A file on the host whose content this file gets (a copy kept beside it, a last good configuration); instead of O(files[].content).
      owner: {type: str, default: root, description: Owner.}
      group: {type: str, default: root, description: Group.}
      mode: {type: str, description: "The mode in octal; 0644 for a file, 0755 for a directory when not given."}
      validate:
        type: str
        description: A command that must succeed on the new content before it replaces the file; C(%s) is the path.
author:
  - mlflow-provision developers (@mlflow-provision)
"""

EXAMPLES = r"""
- name: Render the units
  mlflow_provision.tracking.file_set:
    files:
      - dest: /etc/systemd/system/mlflow@.service
        content: "{{ lookup('ansible.builtin.template', 'mlflow@.service.j2') }}"
        validate: systemd-analyze verify --man=no %s
      - dest: /etc/mlflow/mlflow.env
        content: "{{ lookup('ansible.builtin.template', 'mlflow.env.j2') }}"
        mode: "0600"
  no_log: true
"""

RETURN = r"""
changed_files:
  description: The files written or whose owner, group or mode was fixed (or would be, in check mode).
  type: list
  elements: str
  returned: always
"""

import grp
import os
import pwd
import shlex
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _current(path):
    """(content, stat) of a file, or (None, None) when it does not exist."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None, None
    with open(path, "rb") as handle:
        return handle.read(), stat


def _write(module, path, content, uid, gid, mode, validate):
    """The new content beside the file, validated under the file's own name, then moved in."""
    private = tempfile.mkdtemp(prefix=".file-set-", dir=os.path.dirname(path))
    try:
        staged = os.path.join(private, os.path.basename(path))
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chown(staged, uid, gid)
        os.chmod(staged, mode)
        if validate:
            # As the template module does: %s anywhere in a word (--defaults-file=%s) is the path.
            argv = [part.replace("%s", staged) for part in shlex.split(validate)]
            rc, out, err = module.run_command(argv)
            if rc != 0:
                module.fail_json(
                    msg=f"{path}: the new content failed `{validate}` (rc {rc})",
                    stdout=out,
                    stderr=err,
                )
        os.replace(staged, path)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _directory(module, path, uid, gid, mode):
    """Make the directory (and missing parents) with these attributes; True when it changed."""
    missing = []
    current = path
    while not os.path.isdir(current):
        if os.path.lexists(current):
            module.fail_json(msg=f"{current} exists and is not a directory")
        missing.append(current)
        current = os.path.dirname(current)
    stat = None if missing else os.stat(path)
    if stat is not None and (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) == (uid, gid, mode):
        return False
    if not module.check_mode:
        for directory in reversed(missing):
            os.mkdir(directory, 0o700)
            os.chown(directory, uid, gid)
            os.chmod(directory, mode)
        if not missing:
            os.chown(path, uid, gid)
            os.chmod(path, mode)
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "dest": {"type": "path", "required": True},
                    "state": {
                        "type": "str",
                        "choices": ["file", "directory", "absent"],
                        "default": "file",
                    },
                    "content": {"type": "str"},
                    "src": {"type": "path"},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "mode": {"type": "str"},
                    "validate": {"type": "str"},
                },
            }
        },
        supports_check_mode=True,
    )
    changed, diffs = [], []
    for item in module.params["files"]:
        path = item["dest"]
        if not os.path.isabs(path):
            module.fail_json(msg=f"dest: {path} is not an absolute path")
        if item["state"] == "absent":
            if os.path.lexists(path):
                if os.path.isdir(path) and not os.path.islink(path):
                    module.fail_json(msg=f"{path} is a directory; state absent removes files only")
                changed.append(path)
                if not module.check_mode:
                    os.unlink(path)
            continue
        try:
            uid = pwd.getpwnam(item["owner"]).pw_uid
            gid = grp.getgrnam(item["group"]).gr_gid
            mode = int(item["mode"] or ("0755" if item["state"] == "directory" else "0644"), 8)
        except (KeyError, ValueError) as exc:
            module.fail_json(msg=f"{path}: owner, group or mode is not usable here: {exc}")
        if item["state"] == "directory":
            if _directory(module, path, uid, gid, mode):
                changed.append(path)
            continue
        if (item["content"] is None) == (item["src"] is None):
            module.fail_json(msg=f"{path}: a file needs content or src (one of them)")
        if item["src"] is not None:
            try:
                with open(item["src"], "rb") as handle:
                    content = handle.read()
            except OSError as exc:
                module.fail_json(msg=f"{path}: cannot read its src {item['src']}: {exc.strerror}")
        else:
            content = item["content"].encode()
        before, stat = _current(path)
        content_differs = before != content
        attributes_differ = stat is None or (
            (stat.st_uid, stat.st_gid, stat.st_mode & 0o7777) != (uid, gid, mode)
        )
        if not (content_differs or attributes_differ):
            continue
        changed.append(path)
        if module._diff and content_differs:
            diffs.append(
                {
                    "before_header": path,
                    "after_header": path,
                    "before": (before or b"").decode(errors="replace"),
                    "after": content.decode(errors="replace"),
                }
            )
        if module.check_mode:
            continue
        if content_differs:
            _write(module, path, content, uid, gid, mode, item["validate"])
        else:
            os.chown(path, uid, gid)
            os.chmod(path, mode)
    result = {"changed": bool(changed), "changed_files": changed}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
