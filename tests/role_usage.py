"""Which role variables each entry point of a role reads, found in its files.

An entry point (tasks/<name>.yml) reads the task files it imports or includes, the templates
those render, the handlers, and the derived values of vars/main.yml and defaults/main.yml they
name. tests/test_role_contracts.py compares the result with meta/argument_specs.yml, so that
each entry point declares exactly the options it reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

_INCLUDE = re.compile(r"(?:import_tasks|include_tasks|tasks_from):\s*([\w/.-]+\.yml)")
_TEMPLATE = re.compile(r"\bsrc:\s*[\"']?([\w/.-]+\.j2)")
_TEMPLATED_SRC = re.compile(r"\bsrc:\s*[\"']?\{\{[^}]*\}\}\.j2")
# lookup('ansible.builtin.template', 'x.j2') (module file_set's content); a name built from a
# variable (`_job ~ '.service.j2'`) stands for any of the role's templates.
_TEMPLATE_LOOKUP = re.compile(r"lookup\(\s*'ansible\.builtin\.template',\s*'([\w@./-]+\.j2)'")
_TEMPLATE_LOOKUP_BUILT = re.compile(r"lookup\(\s*'ansible\.builtin\.template',\s*[^'\s]")
_JINJA_INCLUDE = re.compile(r"\{%-?\s*(?:include|import|from)\s+[\"']([\w/.-]+)[\"']")


def entry_points(role_dir: Path) -> list[str]:
    return sorted(p.stem for p in (role_dir / "tasks").glob("*.yml"))


def _files(role_dir: Path, entry: str) -> list[Path]:
    """The task files an entry point runs and the templates they render, transitively."""
    seen: dict[Path, None] = {}
    todo = [role_dir / "tasks" / f"{entry}.yml", role_dir / "handlers" / "main.yml"]
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():
            continue
        seen[path] = None
        text = path.read_text()
        todo += [role_dir / "tasks" / name for name in _INCLUDE.findall(text)]
        todo += [role_dir / "templates" / name for name in _TEMPLATE.findall(text)]
        todo += _templates_looked_up(role_dir, text)
        if _TEMPLATED_SRC.search(text):  # src: "{{ item }}.j2": any of the role's templates
            todo += sorted((role_dir / "templates").glob("*.j2"))
        todo += [role_dir / "templates" / name for name in _JINJA_INCLUDE.findall(text)]
    return list(seen)


def _templates_looked_up(role_dir: Path, text: str) -> list[Path]:
    found = [role_dir / "templates" / name for name in _TEMPLATE_LOOKUP.findall(text)]
    if _TEMPLATE_LOOKUP_BUILT.search(text):
        found += sorted((role_dir / "templates").glob("*.j2"))
    return found


def _derived(role_dir: Path) -> dict[str, str]:
    """vars/main.yml and defaults/main.yml: name -> the text of its value."""
    found = {}
    for rel in ("defaults/main.yml", "vars/main.yml"):
        path = role_dir / rel
        if path.exists():
            for key, value in (yaml.safe_load(path.read_text()) or {}).items():
                found[key] = found.get(key, "") + " " + yaml.safe_dump(value)
    return found


def variables_read(role_dir: Path, entry: str, prefix: str) -> set[str]:
    """The `<prefix>*` and `_<prefix>*` names an entry point's files read, derived ones expanded."""
    word = re.compile(rf"\b_*{prefix}\w+")
    derived = _derived(role_dir)
    names, seen = set(), set()
    todo = _files(role_dir, entry)
    while todo:
        for path in todo:
            seen.add(path)
            names |= set(word.findall(path.read_text()))
        # Derived values name more variables, and may render templates (file_set's content).
        pending, texts = list(names), []
        expanded = set(names)
        while pending:
            text = derived.get(pending.pop(), "")
            texts.append(text)
            for name in word.findall(text):
                if name not in expanded:
                    expanded.add(name)
                    pending.append(name)
        names = expanded
        todo = [p for t in texts for p in _templates_looked_up(role_dir, t) if p not in seen]
        todo = [p for p in dict.fromkeys(todo) if p.exists()]
    return names


def spec_options(role_dir: Path, entry: str = "all") -> dict:
    """The argument spec's options of one entry point, or of all of them (the role's contract)."""
    specs = yaml.safe_load((role_dir / "meta/argument_specs.yml").read_text())["argument_specs"]
    if entry != "all":
        return specs[entry].get("options", {})
    options = {}
    for spec in specs.values():
        options.update(spec.get("options", {}))
    return options
