"""Each role's defaults and argument spec name the same variables.

A default without a spec entry escapes type checking; a spec entry without a default is an
undefined variable for every inventory that does not set it (this caught a dropped
nginx_tls_credentials_dir default that every test inventory happened to set).
"""

import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from role_usage import entry_points, spec_options, variables_read

ROLES = sorted(
    p.name for p in (ROOT / "roles").iterdir() if (p / "meta/argument_specs.yml").exists()
)


def _names(path: Path, *keys):
    data = yaml.safe_load(path.read_text()) or {}
    for key in keys:
        data = data[key]
    return set(data)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_spec_agree(role):
    spec = set(spec_options(ROOT / "roles" / role))
    defaults = _names(ROOT / "roles" / role / "defaults/main.yml")
    assert sorted(spec - defaults) == [], "in the argument spec but without a default"
    assert sorted(defaults - spec) == [], "defaulted but not in the argument spec"


def _spec_options(role):
    return spec_options(ROOT / "roles" / role)


def _table_rows(role):
    """(names, defaults) of each row of the role README's variable tables."""
    text = (ROOT / "roles" / role / "README.md").read_text()
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith(f"`{role}_"):
            continue
        yield re.findall(r"`([a-z0-9_]+)`", cells[0]), re.findall(r"`([^`]+)`", cells[1])


def _expand(names, options):
    """`x_db_host`/`_port` names x_db_port, `x_key`/`_file` x_key_file: a suffix extends a stem."""
    full, first = [], names[0].split("_")
    for name in names:
        if not name.startswith("_"):
            full.append(name)
            continue
        tries = [names[0] + name]
        tries += ["_".join(first[:cut]) + name for cut in range(len(first) - 1, 0, -1)]
        full.append(next((t for t in tries if t in options), tries[0]))
    return full


@pytest.mark.parametrize("role", ROLES)
def test_readme_variable_tables_match_the_argument_spec(role):
    options = _spec_options(role)
    rows = list(_table_rows(role))
    assert rows, f"roles/{role}/README.md has no variable table"
    for names, defaults in rows:
        names = _expand(names, options)
        for name in names:
            assert name in options, f"README names {name}, which the argument spec does not"
        if len(defaults) != len(names):
            continue  # one default for several variables, or a default described in words
        for name, shown in zip(names, defaults, strict=True):
            if "default" not in options[name]:
                continue  # templated in defaults/main.yml (a path built from other variables)
            want = options[name]["default"]
            assert yaml.safe_load(shown) == want, f"README shows {name} = {shown}, spec {want!r}"


def _declared_entry_points(role):
    path = ROOT / "roles" / role / "meta/argument_specs.yml"
    return yaml.safe_load(path.read_text())["argument_specs"]


@pytest.mark.parametrize(
    ("role", "entry"),
    [(role, entry) for role in ROLES for entry in _declared_entry_points(role)],
)
def test_each_entry_point_declares_exactly_the_variables_it_reads(role, entry):
    # Ansible checks an entry point's options when it runs: an option it reads but does not
    # declare escapes that check; one it declares but never reads misleads its reader.
    role_dir = ROOT / "roles" / role
    options = set(spec_options(role_dir))
    declared = set(spec_options(role_dir, entry))
    read = variables_read(role_dir, entry, f"{role}_")
    if entry == "main":
        # main carries the role's whole contract beside the day-2 entry points: what the role's
        # rules check, what the playbooks' wiring reads, what undeclared task files read.
        word = re.compile(rf"\b{role}_\w+")
        extra = set()
        for path in [
            *(ROOT / "plugins/module_utils").glob("*.py"),
            *(ROOT / "playbooks").rglob("*.yml"),
        ]:
            extra |= set(word.findall(path.read_text()))
        elsewhere = set().union(
            *(spec_options(role_dir, e) for e in _declared_entry_points(role) if e != "main")
        )
        read |= extra - elsewhere
        for other in set(entry_points(role_dir)) - set(_declared_entry_points(role)):
            read |= variables_read(role_dir, other, f"{role}_")
    read &= options
    assert sorted(read - declared) == [], f"tasks/{entry}.yml reads these, its spec lacks them"
    assert sorted(declared - read) == [], f"the spec of {entry} declares these; it never reads them"


@pytest.mark.parametrize("role", ROLES)
def test_a_role_shows_its_entry_points_at_a_glance(role):
    # tasks/ holds the entry points only, each in the argument spec (`validate` aside: the
    # preflight's, which collects problems instead of failing); building blocks sit in folders.
    assert set(entry_points(ROOT / "roles" / role)) == set(_declared_entry_points(role)) | {
        "validate"
    }


def test_mlflow_server_entry_points_and_folders():
    role = ROOT / "roles/mlflow_server"
    declared = set(_declared_entry_points("mlflow_server"))
    assert declared == {
        "main",
        "restart",
        "backup",
        "restore",
        "upgrade",
        "status",
        "retire",
        "secrets",
    }
    folders = sorted(p.name for p in (role / "tasks").iterdir() if p.is_dir())
    assert folders == ["backup", "common", "database", "deploy", "instances", "upgrade"]
