"""Reach the Azure Blob artifact store the way the server will, and say plainly what is wrong.

Usage: mlflow-artifact-check WASBS_URI [--create-container]

Run by the play before the server starts, with the venv's python, as the service account, with
the 0600 environment file (systemd-run): MLflow's own wasbs repository builds the client, so the
credential (connection string, account key or managed identity) and the endpoint are exactly
the server's. Lists the container (and creates it when missing and allowed). Prints one line:
"... reachable", "... created", "... missing" (exit 0), or what is wrong (exit 1): endpoint
unreachable, no credential, authentication failed, not authorized, account or container
missing. Never prints a key or a connection string.
"""

import sys

from mlflow_check_errors import ARTIFACT_STORE, classify


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print("usage: mlflow-artifact-check WASBS_URI [--create-container]")
        return 2
    uri, create = argv[0], "--create-container" in argv[1:]

    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from mlflow.store.artifact.azure_blob_artifact_repo import AzureBlobArtifactRepository

    container, account = AzureBlobArtifactRepository.parse_wasbs_uri(uri)[:2]
    where = f"Azure Blob container {container!r} of account {account!r}"
    try:
        # Retries would turn a wrong endpoint into minutes of waiting.
        repo = AzureBlobArtifactRepository(uri)
        client = repo.client.get_container_client(container)
        try:
            next(iter(client.list_blobs(results_per_page=1, retry_total=1)), None)
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) != "ContainerNotFound":
                raise
            if not create:
                print(f"{where}: missing")
                return 0
            client.create_container()
            print(f"{where}: created")
            return 0
    except (AzureError, ValueError) as exc:
        code = getattr(exc, "error_code", None)
        code = getattr(code, "value", code) or ""
        detail = " ".join(f"{code} {exc}".split())
        # The first line of an SDK message is the one that says what happened.
        detail = detail.split(" RequestId:", maxsplit=1)[0][:400]
        print(f"{where}: {classify(detail, ARTIFACT_STORE, 'request failed')}: {detail}")
        return 1
    print(f"{where}: reachable")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
