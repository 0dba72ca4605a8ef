"""Role mysql's input rules: each bad value is named, with what is allowed (through the
preflight of every role, as playbooks/validate.yml runs it)."""

import pytest
from inputs_support import (
    VALID,
    preflight,
)

# (overrides, what one of the problems must say)
INVALID = [
    ({"mysql_mlflow_password": ""}, "mysql_mlflow_password: required, must not be empty"),
    (
        {"mysql_mlflow_password": "line\nbreak"},
        "mysql_mlflow_password: must hold printable characters only",
    ),
    ({"mysql_mlflow_database": "ml-flow"}, 'mysql_mlflow_database: "ml-flow" is not allowed'),
    (
        {"mysql_innodb_buffer_pool_ratio": 0.95},
        "mysql_innodb_buffer_pool_ratio: 0.95 is outside (0, 0.8]",
    ),
]


@pytest.mark.parametrize(("overrides", "expected"), INVALID, ids=[e for _, e in INVALID])
def test_bad_input_is_named(overrides, expected):
    found = preflight({**VALID, **overrides})
    assert any(expected in text for text in found), found
