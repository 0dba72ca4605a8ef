"""Smoke test of a deployed tracking server with the real MLflow client, as a user works.

Logs params, metrics and an artifact, registers a model, sets an alias and loads the model by
that alias. Reads the connection from the environment (never from the command line):
MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD_FILE (a file holding the
password) and MLFLOW_TRACKING_SERVER_CERT_PATH (a CA bundle or the self-signed certificate).
Prints one JSON line with what it did and how long each step took; exits 1 on any failure.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    password_file = os.environ.pop("MLFLOW_TRACKING_PASSWORD_FILE", "")
    if password_file:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = Path(password_file).read_text().strip()

    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient

    class AddN(mlflow.pyfunc.PythonModel):
        def __init__(self, n):
            self.n = n

        def predict(self, context, model_input, params=None):
            return [value + self.n for value in model_input["x"]]

    timings, started = {}, time.perf_counter()

    def step(name):
        now = time.perf_counter()
        timings[name] = round(now - step.last, 3)
        step.last = now

    step.last = started
    stamp = time.strftime("%Y%m%d-%H%M%S")
    mlflow.set_experiment(f"smoke-test-{stamp}")
    model_name = f"smoke-test-model-{stamp}"
    artifact = os.urandom(256 * 1024)
    with mlflow.start_run() as run:
        mlflow.log_params({"alpha": 0.5, "layers": 3})
        for i in range(5):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "blob.bin"
            path.write_bytes(artifact)
            mlflow.log_artifact(str(path), artifact_path="data")
        step("log_run")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=AddN(2), registered_model_name=model_name
        )
        step("log_and_register_model")

    client = MlflowClient()
    fetched = client.get_run(run.info.run_id)
    assert fetched.data.params == {"alpha": "0.5", "layers": "3"}, fetched.data.params
    assert fetched.data.metrics["loss"] == 0.2, fetched.data.metrics
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="data/blob.bin", dst_path=tmp
        )
        assert Path(local).read_bytes() == artifact, "artifact differs after the round trip"
    step("read_back")

    version = info.registered_model_version
    client.set_registered_model_alias(model_name, "champion", version)
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    import pandas as pd

    prediction = list(loaded.predict(pd.DataFrame({"x": [1, 40]})))
    assert prediction == [3, 42], prediction
    step("alias_and_load")

    print(
        json.dumps(
            {
                "result": "passed",
                "tracking_uri": mlflow.get_tracking_uri(),
                "run_id": run.info.run_id,
                "model": f"{model_name}@champion (version {version})",
                "seconds": timings,
                "total_seconds": round(time.perf_counter() - started, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:
        print(json.dumps({"result": "failed", "error": f"{type(exc).__name__}: {exc}"}))
        sys.exit(1)
