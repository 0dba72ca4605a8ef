"""Every module's documentation parses (ansible-doc and the collection check read it)."""

import ast

import pytest
import yaml
from conftest import ROOT

MODULES = sorted((ROOT / "plugins/modules").glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_documentation_examples_and_return_are_yaml(path):
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                found[name] = yaml.safe_load(node.value.value)
    assert set(found) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    assert found["DOCUMENTATION"]["module"] == path.stem
    # "a: b" in a plain line turns a description into a mapping.
    for where, text in _descriptions(found["DOCUMENTATION"]):
        lines = text if isinstance(text, list) else [text]
        assert all(isinstance(line, str) for line in lines), (where, text)


def _descriptions(doc, where="DOCUMENTATION"):
    for key, value in doc.items():
        if key == "description":
            yield where, value
        elif key in ("options", "suboptions") and isinstance(value, dict):
            for name, option in value.items():
                yield from _descriptions(option, f"{where}.{name}")
