"""The classifier of `mlflow-host db-check` and `artifact-check`
(mlflow_provision_host/problems.py), with the words real drivers and the Azure SDK use."""

import pytest
from mlflow_provision_host import problems as errors

DATABASE = [
    (
        'connection to server at "db.example.com" (10.0.0.5), port 5432 failed: FATAL:  password'
        ' authentication failed for user "mlflow"',
        "authentication failed",
    ),
    (
        'could not translate host name "db.invalid" to address: Name or service not known',
        "host unreachable",
    ),
    (
        'connection to server at "10.0.0.5", port 5432 failed: FATAL:  no pg_hba.conf entry for'
        ' host "172.18.0.3", user "mlflow", database "mlflow", no encryption',
        "TLS required or failed",
    ),
    ('connection failed: FATAL:  database "mlfow" does not exist', "database does not exist"),
    (
        'connection failed: root certificate file "/etc/mlflow/db-ca.pem" does not exist',
        "TLS required or failed",
    ),
    (
        "(1045, \"Access denied for user 'mlflow'@'localhost' (using password: YES)\")",
        "authentication failed",
    ),
    ("(1049, \"Unknown database 'mlfow'\")", "database does not exist"),
    (
        "(2003, \"Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)\")",
        "host unreachable",
    ),
    ("(1040, 'Too many connections')", "connection failed"),
]

ARTIFACT_STORE = [
    (
        "DefaultAzureCredential failed to retrieve a token from the included credentials.",
        "no credential (set a connection string or an account key, or give the VM a managed"
        " identity)",
    ),
    ("ManagedIdentityCredential: CredentialUnavailable", "no credential"),
    (
        "AuthenticationFailed Server failed to authenticate the request.",
        "authentication failed (wrong account key or signature)",
    ),
    (
        "AuthorizationPermissionMismatch This request is not authorized to perform this"
        " operation using this permission.",
        "not authorized (the identity needs the role Storage Blob Data Contributor)",
    ),
    ("ResourceNotFound The specified resource does not exist.", "storage account does not exist"),
    (
        "<urllib3.connection.HTTPSConnection>: Failed to resolve 'acct.blob.core.windows.net'",
        "endpoint unreachable",
    ),
    ("InvalidHeaderValue The value for one of the HTTP headers is wrong", "request failed"),
]


@pytest.mark.parametrize(("message", "problem"), DATABASE)
def test_database_errors(message, problem):
    assert errors.classify(message, errors.DATABASE, "connection failed") == problem


@pytest.mark.parametrize(("message", "problem"), ARTIFACT_STORE)
def test_artifact_store_errors(message, problem):
    assert errors.classify(message, errors.ARTIFACT_STORE, "request failed") == problem
