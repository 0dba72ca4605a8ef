"""Module file_set (plugins/modules/file_set.py): several files in one run, each only when it
differs; validation on a copy under the file's own name; check and diff mode."""

import grp
import json
import os
import pwd
import subprocess
import sys

from conftest import ROOT

MODULE = ROOT / "plugins/modules/file_set.py"
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(tmp_path, files, check=False, diff=False):
    args = tmp_path / "args.json"
    for item in files:
        item.setdefault("owner", OWNER)
        item.setdefault("group", GROUP)
    args.write_text(
        json.dumps(
            {
                "ANSIBLE_MODULE_ARGS": {
                    "files": files,
                    "_ansible_check_mode": check,
                    "_ansible_diff": diff,
                }
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, str(MODULE), str(args)], capture_output=True, text=True, check=False
    )
    return json.loads(proc.stdout)


def test_writes_what_differs_and_only_that(tmp_path):
    same, other = tmp_path / "same.conf", tmp_path / "other.conf"
    same.write_text("kept\n")
    same.chmod(0o644)
    mtime = same.stat().st_mtime_ns
    files = [
        {"dest": str(same), "content": "kept\n"},
        {"dest": str(other), "content": "new\n", "mode": "0600"},
    ]
    result = run(tmp_path, files)
    assert result["changed"] is True
    assert result["changed_files"] == [str(other)]
    assert other.read_text() == "new\n" and other.stat().st_mode & 0o7777 == 0o600
    assert same.stat().st_mtime_ns == mtime
    # Nothing left beside the files (the private staging directories are gone).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["args.json", "other.conf", "same.conf"]
    again = run(tmp_path, files)
    assert again["changed"] is False and again["changed_files"] == []


def test_a_mode_alone_is_fixed_in_place(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o600)
    inode = path.stat().st_ino
    result = run(tmp_path, [{"dest": str(path), "content": "x", "mode": "0644"}])
    assert result["changed_files"] == [str(path)]
    assert path.stat().st_mode & 0o7777 == 0o644 and path.stat().st_ino == inode


def test_validation_sees_the_real_name_and_a_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "mlflow@.service"
    path.write_text("old\n")
    check = "sh -c 'case $0 in */mlflow@.service) grep -q good $0;; *) exit 3;; esac' %s"
    bad = run(tmp_path, [{"dest": str(path), "content": "bad\n", "validate": check}])
    assert bad.get("failed") is True, bad
    assert "failed `" in bad["msg"] and path.read_text() == "old\n"
    good = run(tmp_path, [{"dest": str(path), "content": "good\n", "validate": check}])
    assert good["changed"] is True and path.read_text() == "good\n"


def test_check_mode_changes_nothing_and_diff_shows_the_content(tmp_path):
    path = tmp_path / "f"
    path.write_text("before\n")
    result = run(tmp_path, [{"dest": str(path), "content": "after\n"}], check=True, diff=True)
    assert result["changed"] is True and path.read_text() == "before\n"
    assert result["diff"] == [
        {
            "before_header": str(path),
            "after_header": str(path),
            "before": "before\n",
            "after": "after\n",
        }
    ]


def test_bad_owner_or_relative_path_fail_naming_the_file(tmp_path):
    result = run(tmp_path, [{"dest": str(tmp_path / "f"), "content": "", "owner": "no-such-user"}])
    assert result["failed"] and str(tmp_path / "f") in result["msg"]
    result = run(tmp_path, [{"dest": "relative/f", "content": ""}])
    assert result["failed"] and "not an absolute path" in result["msg"]


def test_directories_with_their_parents_and_absent_files(tmp_path):
    leaf = tmp_path / "a" / "b"
    gone = tmp_path / "old.timer"
    gone.write_text("x")
    entries = [
        {"dest": str(leaf), "state": "directory", "mode": "0750"},
        {"dest": str(leaf / "f"), "content": "in the new directory\n"},
        {"dest": str(gone), "state": "absent"},
        {"dest": str(tmp_path / "never.timer"), "state": "absent"},
    ]
    result = run(tmp_path, [dict(e) for e in entries])
    assert result["changed_files"] == [str(leaf), str(leaf / "f"), str(gone)]
    assert leaf.stat().st_mode & 0o7777 == 0o750
    assert (tmp_path / "a").stat().st_mode & 0o7777 == 0o750  # a parent it made
    assert (leaf / "f").read_text() == "in the new directory\n" and not gone.exists()
    assert run(tmp_path, [dict(e) for e in entries])["changed"] is False
    # A directory's mode alone, and check mode.
    leaf.chmod(0o700)
    checked = run(tmp_path, [{"dest": str(leaf), "state": "directory", "mode": "0750"}], check=True)
    assert checked["changed"] is True and leaf.stat().st_mode & 0o7777 == 0o700


def test_the_path_may_sit_inside_a_word_of_the_validation(tmp_path):
    path = tmp_path / "60-mlflow.cnf"
    check = (
        "sh -c 'case $0 in --defaults-file=*/60-mlflow.cnf) exit 0;; *) exit 4;; esac'"
        " --defaults-file=%s"
    )
    result = run(tmp_path, [{"dest": str(path), "content": "[mysqld]\n", "validate": check}])
    assert result["changed"] is True, result


def test_a_copy_of_a_file_on_the_host(tmp_path):
    live, kept = tmp_path / "nginx.conf", tmp_path / "nginx.conf.last-good"
    live.write_text("server {}\n")
    files = [{"dest": str(kept), "src": str(live), "mode": "0644"}]
    assert run(tmp_path, files)["changed_files"] == [str(kept)]
    assert kept.read_text() == "server {}\n"
    assert run(tmp_path, files)["changed"] is False
    live.write_text("server { listen 443; }\n")
    assert run(tmp_path, files, check=True)["changed_files"] == [str(kept)]
    assert kept.read_text() == "server {}\n"
    missing = run(tmp_path, [{"dest": str(kept), "src": str(tmp_path / "nope")}])
    assert missing["failed"] and "cannot read its src" in missing["msg"]
    both = run(tmp_path, [{"dest": str(kept), "src": str(live), "content": "x"}])
    assert both["failed"] and "content or src (one of them)" in both["msg"]
