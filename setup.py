"""Build step of the wheel: the collection mlflow_provision.tracking goes in with the package,
so that `pip install mlflow-provision` works without the repository (pyproject.toml holds the
rest of the metadata). An editable install (`make setup`) uses the clone itself instead."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What ansible-galaxy's tarball holds (galaxy.yml: build_ignore keeps the rest out).
COLLECTION = ["galaxy.yml", "meta", "plugins", "roles", "playbooks", "README.md", "CHANGELOG.md"]
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


class BuildWithCollection(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "mlflow_provision" / "collections" / "ansible_collections"
        target = target / "mlflow_provision" / "tracking"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in COLLECTION:
            source = ROOT / name
            if source.is_dir():
                # Links (playbooks/group_vars -> ../group_vars) are copied as what they point to.
                shutil.copytree(source, target / name, symlinks=False, ignore=IGNORED)
            else:
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildWithCollection})
