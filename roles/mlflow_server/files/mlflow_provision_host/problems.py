"""What went wrong, in one phrase: the classifier the database and artifact-store checks share.

db-check and artifact-check (checks.py) print "<where>: <problem>: <the driver's own words>".
A problem matches when every word of one of its phrases appears in the error text (lowercased);
the first match wins, so the tables list the specific before the general. Unit-tested with real
driver and SDK messages in tests/test_host_problems.py.
"""

# TLS comes first: its messages may mention a missing file ("does not exist"), and a refused
# plain-text connection names the database ("no pg_hba.conf entry for host ..., database ...,
# no encryption").
DATABASE = [
    ("TLS required or failed", [("ssl",), ("certificate",), ("no encryption",)]),
    ("database does not exist", [("database", "does not exist"), ("unknown database",)]),
    (
        "authentication failed",
        [("password authentication failed",), ("access denied",), ("authentication failed",)],
    ),
    (
        "host unreachable",
        [
            ("could not translate host name",),
            ("name or service not known",),
            ("connection refused",),
            ("timeout expired",),
            ("timed out",),
            ("no route to host",),
            ("network is unreachable",),
            ("can't connect",),
        ],
    ),
]

ARTIFACT_STORE = [
    (
        "no credential (set a connection string or an account key,"
        " or give the VM a managed identity)",
        [("defaultazurecredential",)],
    ),
    ("no credential", [("credentialunavailable",)]),
    (
        "authentication failed (wrong account key or signature)",
        [("authenticationfailed",), ("failed to authenticate",)],
    ),
    (
        "not authorized (the identity needs the role Storage Blob Data Contributor)",
        [("authorizationpermissionmismatch",)],
    ),
    ("not authorized", [("authorizationfailure",)]),
    ("storage account does not exist", [("resourcenotfound",), ("accountnotfound",)]),
    (
        "endpoint unreachable",
        [
            ("name or service not known",),
            ("failed to resolve",),
            ("connection refused",),
            ("timed out",),
            ("max retries",),
            ("connection",),
        ],
    ),
]


def classify(message, problems, default):
    """The first problem one of whose phrases has all its words in `message`, else `default`."""
    lowered = message.lower()
    for problem, phrases in problems:
        if any(all(word in lowered for word in phrase) for phrase in phrases):
            return problem
    return default
