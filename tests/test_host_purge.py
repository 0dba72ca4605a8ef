"""`mlflow-host gc` (mlflow_provision_host/purge.py): MLflow's `gc` with the database URI from the
environment, never on a command line. The purge itself runs in scenario default."""

import pytest
from mlflow_provision_host import cli
from mlflow_provision_host import purge as gc

URI = "mysql+pymysql://mlflow:p%40ss@127.0.0.1:3306/mlflow"


def test_the_uri_comes_from_the_environment():
    assert gc.gc_argv("30", {"MLFLOW_BACKEND_STORE_URI": URI}) == [
        "--backend-store-uri",
        URI,
        "--older-than",
        "30d",
    ]


@pytest.mark.parametrize(
    ("days", "environ", "expected"),
    [
        ("0", {"MLFLOW_BACKEND_STORE_URI": URI}, "DAYS must be a whole number of days"),
        ("3.5", {"MLFLOW_BACKEND_STORE_URI": URI}, "DAYS must be a whole number of days"),
        ("30", {}, "MLFLOW_BACKEND_STORE_URI is not set"),
    ],
)
def test_bad_arguments(days, environ, expected):
    with pytest.raises(ValueError, match=expected):
        gc.gc_argv(days, environ)


def test_main_refuses_bad_arguments_before_importing_mlflow(capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_BACKEND_STORE_URI", raising=False)
    assert cli.main(["gc", "30", "http://127.0.0.1:5000"]) == 2
    assert "MLFLOW_BACKEND_STORE_URI is not set" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", "sqlite:////tmp/x.db")
    assert cli.main(["gc", "0", "http://127.0.0.1:5000"]) == 2
    assert "DAYS must be a whole number of days, 1 or more, not '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["gc"])
    assert exited.value.code == 2


def test_artifacts_go_through_the_instance_with_the_admin_of_the_auth_app(tmp_path):
    ini = tmp_path / "basic_auth.ini"
    ini.write_text("[mlflow]\nadmin_username = root-admin\n")
    plain = gc.client_environment("http://127.0.0.1:5000", {})
    assert plain == {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}
    with_auth = gc.client_environment(
        "http://127.0.0.1:5000",
        {"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_AUTH_ADMIN_PASSWORD": "s3cret-admin-pw"},
    )
    assert with_auth == {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
        "MLFLOW_TRACKING_USERNAME": "root-admin",
        "MLFLOW_TRACKING_PASSWORD": "s3cret-admin-pw",
    }
