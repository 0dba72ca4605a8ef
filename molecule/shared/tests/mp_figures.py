"""A scenario's figures (durations, request counts), kept after the scenario in
.cache/molecule/<scenario>-figures.json (molecule prunes its ephemeral directory) and printed."""

import json
import os
from pathlib import Path

CACHE = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".cache" / "molecule"


def figure(scenario, name, value):
    path = CACHE / f"{scenario}-figures.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = value
    path.write_text(json.dumps(figures, indent=2))
    print(f"FIGURE {name} = {value}")
