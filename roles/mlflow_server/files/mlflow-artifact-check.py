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

# (problem, words that all appear in the error) - first match wins.
PROBLEMS = [
    (
        "no credential (set a connection string or an account key,"
        " or give the VM a managed identity)",
        ("defaultazurecredential",),
    ),
    ("no credential", ("credentialunavailable",)),
    ("authentication failed (wrong account key or signature)", ("authenticationfailed",)),
    ("authentication failed (wrong account key or signature)", ("failed to authenticate",)),
    (
        "not authorized (the identity needs the role Storage Blob Data Contributor)",
        ("authorizationpermissionmismatch",),
    ),
    ("not authorized", ("authorizationfailure",)),
    ("storage account does not exist", ("resourcenotfound",)),
    ("storage account does not exist", ("accountnotfound",)),
    ("endpoint unreachable", ("name or service not known",)),
    ("endpoint unreachable", ("failed to resolve",)),
    ("endpoint unreachable", ("connection refused",)),
    ("endpoint unreachable", ("timed out",)),
    ("endpoint unreachable", ("max retries",)),
    ("endpoint unreachable", ("connection",)),
]


def classify(message: str) -> str:
    lowered = message.lower()
    for problem, words in PROBLEMS:
        if all(word in lowered for word in words):
            return problem
    return "request failed"


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print("usage: mlflow-artifact-check WASBS_URI [--create-container]")
        return 2
    uri, create = argv[0], "--create-container" in argv[1:]

    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from mlflow.store.artifact.azure_blob_artifact_repo import AzureBlobArtifactRepository

    container, account, _, _ = AzureBlobArtifactRepository.parse_wasbs_uri(uri)
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
        detail = detail.split(" RequestId:")[0][:400]
        print(f"{where}: {classify(detail)}: {detail}")
        return 1
    print(f"{where}: reachable")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
