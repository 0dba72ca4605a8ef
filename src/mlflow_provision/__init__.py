"""mlflow-provision: provision and operate MLflow tracking servers with Ansible."""

__version__ = "0.1.0"
