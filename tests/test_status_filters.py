"""Filters of playbooks/status.yml (plugins/filter/status.py): what the hosts answered, parsed,
and the table an operator reads."""

import datetime as dt

from ansible_collections.mlflow_provision.tracking.plugins.filter.status import (
    mlflow_gc_state,
    mlflow_instance_answers,
    mlflow_overall_verdict,
    mlflow_status_lines,
    mlflow_status_verdict,
    mlflow_status_verdicts,
    mlflow_systemd_units,
    nginx_acme_renewal,
    nginx_certificate_dates,
)

SHOW = """Id=mlflow@5000.service
ActiveState=active
SubState=running
NRestarts=0

Id=mlflow@5001.service
ActiveState=activating
SubState=auto-restart
NRestarts=3

Id=mlflow-backup.timer
ActiveState=inactive
SubState=dead
NRestarts=
"""


def test_systemd_units_by_id():
    units = mlflow_systemd_units(SHOW)
    assert set(units) == {"mlflow@5000.service", "mlflow@5001.service", "mlflow-backup.timer"}
    assert units["mlflow@5001.service"] == {
        "ActiveState": "activating",
        "SubState": "auto-restart",
        "NRestarts": "3",
    }


def test_instance_answers_by_port():
    health = [
        {"item": 5000, "status": 200, "content": "OK"},
        {"item": 5001, "status": -1, "msg": "Connection refused"},
    ]
    served = [{"item": 5000, "rc": 0, "stdout": "3.17.2\n"}, {"item": 5001, "rc": 0, "stdout": ""}]
    assert mlflow_instance_answers(health, served) == {
        "5000": {"health": "OK", "version": "3.17.2", "error": None},
        "5001": {"health": None, "version": None, "error": "Connection refused"},
    }


def test_certificate_dates_and_days_left():
    text = "notAfter=Nov 24 12:00:00 2027 GMT\nsubject=CN = mp-day2\nissuer=CN = mp-day2\n"
    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    assert nginx_certificate_dates(text, now) == {
        "not_after": "2027-11-24T12:00:00+00:00",
        "days_left": 365,
        "subject": "CN = mp-day2",
        "issuer": "CN = mp-day2",
    }
    assert nginx_certificate_dates(text, now + dt.timedelta(days=400))["days_left"] == -35


def test_the_table_says_what_is_wrong():
    server = {
        "installed_version": "3.17.2",
        "units": mlflow_systemd_units(SHOW),
        "instances": {
            "5000": {"health": "OK", "version": "3.17.2", "error": None},
            "5001": {"health": None, "version": None, "error": "Connection refused"},
        },
        "data": {
            "databases": {
                "database": {
                    "kind": "mysql",
                    "revision": "abc",
                    "head": "def",
                    "at_head": False,
                    "bytes": 3 * 1024 * 1024,
                },
            },
            "artifacts": {"path": "/var/lib/mlflow/artifacts", "bytes": 2048, "files": 4},
            "backups": {"count": 0, "bytes": 0},
        },
    }
    proxy = {
        "state": "active",
        "certificate": {
            "not_after": "2027-11-24T12:00:00+00:00",
            "days_left": 365,
            "issuer": "CN = ca",
        },
    }
    text = "\n".join(mlflow_status_lines("mp-day2", server, proxy))
    assert text.startswith("mp-day2: MLflow 3.17.2")
    assert "mlflow@5000" in text and "health OK" in text
    assert "DOWN (Connection refused)" in text and "restarts 3" in text
    assert "revision abc (NOT at head def), 3.0 MiB" in text
    assert "artifacts    2.0 KiB in 4 files" in text
    assert "NO BACKUP" in text and "backup timer off" in text
    assert "expires 2027-11-24 (in 365 days)" in text


RENEWAL = """Id=mlflow-acme-renew.timer
LoadState=loaded
ActiveState=active
NextElapseUSecRealtime=Wed 2026-11-25 02:33:57 UTC
LastTriggerUSec=Tue 2026-11-24 14:02:11 UTC
Result=success

Id=mlflow-acme-renew.service
LoadState=loaded
ActiveState=inactive
NextElapseUSecRealtime=
LastTriggerUSec=
Result=exit-code
"""


def test_acme_renewal_timer_and_its_last_result():
    renewal = nginx_acme_renewal(RENEWAL)
    assert renewal == {
        "timer": "active",
        "next": "Wed 2026-11-25 02:33:57 UTC",
        "last_run": "Tue 2026-11-24 14:02:11 UTC",
        "last_result": "exit-code",
    }
    proxy = {"state": "active", "renewal": renewal}
    server = {"installed_version": "3.17.2", "units": {}, "instances": {}, "data": {}}
    text = "\n".join(mlflow_status_lines("h", server, proxy))
    assert "renewal      timer active, next Wed 2026-11-25 02:33:57 UTC; last run" in text
    assert "exit-code" in text
    # Never triggered yet: no result to report; no timer at all (another mode): None.
    never = RENEWAL.replace("LastTriggerUSec=Tue 2026-11-24 14:02:11 UTC", "LastTriggerUSec=")
    assert nginx_acme_renewal(never)["last_result"] is None
    missing = RENEWAL.replace("LoadState=loaded", "LoadState=not-found", 1)
    assert nginx_acme_renewal(missing) is None


GC_SHOW = """Id=mlflow-gc.timer
LoadState=loaded
ActiveState=active
NextElapseUSecRealtime=Mon 2026-12-07 04:03:11 UTC
LastTriggerUSec=Sun 2026-12-06 04:07:40 UTC

Id=mlflow-gc.service
LoadState=loaded
ActiveState=inactive
Result=success
"""


def test_gc_state_and_line():
    units = mlflow_systemd_units(GC_SHOW)
    state = mlflow_gc_state(units, 30)
    assert state == {
        "retention_days": 30,
        "timer": "active",
        "next": "Mon 2026-12-07 04:03:11 UTC",
        "last_run": "Sun 2026-12-06 04:07:40 UTC",
        "last_result": "success",
    }
    lines = mlflow_status_lines("h", {"units": units, "gc": state, "data": None})
    assert (
        "  purge        after 30 days; timer active, next Mon 2026-12-07 04:03:11 UTC;"
        " last run Sun 2026-12-06 04:07:40 UTC: success"
    ) in lines


def test_gc_off():
    units = mlflow_systemd_units(GC_SHOW.replace("LoadState=loaded", "LoadState=not-found"))
    assert mlflow_gc_state(units, 30) is None
    assert mlflow_gc_state(mlflow_systemd_units(GC_SHOW), 0) is None
    lines = mlflow_status_lines("h", {"units": {}, "gc": None, "data": None})
    assert "  purge        off (deleted runs and their artifacts are kept)" in lines


def test_the_balancers_view_of_a_host():
    server = {"units": {}, "data": None}

    def line(balancer):
        lines = mlflow_status_lines("h", server, {"state": "active", "balancer": balancer})
        return next(text for text in lines if text.startswith("  balancer"))

    assert (
        line({"status": 200, "answer": "OK"})
        == "  balancer     in rotation (the probe answers 200)"
    )
    assert (
        line({"status": "503", "answer": "draining"}) == "  balancer     OUT of rotation: draining"
    )
    assert line({"status": 503, "answer": "no MLflow instance answers"}).endswith(
        "OUT of rotation: no MLflow instance answers"
    )
    assert "the probe gets no answer (Connection refused)" in line(
        {"status": -1, "answer": "Connection refused"}
    )
    # A status from before the balancer's line (an older host's JSON): no line.
    assert not any(
        text.startswith("  balancer") for text in mlflow_status_lines("h", server, {"state": "x"})
    )


def test_a_cluster_hosts_status_names_where_its_jobs_and_database_backups_run():
    server = {
        "installed_version": "3.17.2",
        "units": {},
        "instances": {},
        "data": {"databases": {}, "backups": {"count": 1, "bytes": 3600, "newest": None}},
        "jobs_host": "mlflow-1",
    }
    text = "\n".join(mlflow_status_lines("mlflow-2", server))
    assert "NO BACKUP; the shared databases: the backups of mlflow-1" in text
    assert "backup timer off here; the cluster's scheduled jobs run on mlflow-1" in text
    alone = "\n".join(mlflow_status_lines("mlflow-1", {**server, "jobs_host": None}))
    assert "mlflow-1" not in alone.split("\n", 1)[1] and "backup timer off" in alone


UP = {"health": "OK", "version": "3.17.2", "error": None}
REFUSED = {"health": None, "version": None, "error": "Connection refused"}
SERVING = {"state": "active", "balancer": {"status": 200, "answer": "OK"}}


def _verdict(instances, proxy=SERVING):
    return mlflow_status_verdict({"instances": instances}, proxy)


def test_a_host_is_healthy_only_when_every_instance_and_nginx_answer():
    assert _verdict({"5000": UP, "5001": UP}) == {"verdict": "healthy", "reasons": []}
    assert _verdict({"5000": UP, "5001": REFUSED}) == {
        "verdict": "degraded",
        "reasons": ["mlflow@5001 is down (Connection refused)"],
    }


def test_a_host_is_down_when_its_clients_get_nothing():
    both = _verdict({"5000": REFUSED, "5001": REFUSED}, {**SERVING, "balancer": {"status": 503}})
    assert both["verdict"] == "down"
    assert both["reasons"][0] == "no MLflow instance answers /health"
    assert "mlflow@5000 is down (Connection refused)" in both["reasons"]
    stopped = _verdict({"5000": UP}, {"state": "inactive", "balancer": {"status": -1}})
    assert stopped == {"verdict": "down", "reasons": ["nginx is inactive"]}
    drained = _verdict(
        {"5000": UP}, {"state": "active", "balancer": {"status": 503, "answer": "draining"}}
    )
    assert drained == {"verdict": "down", "reasons": ["OUT of rotation: draining"]}
    expired = _verdict(
        {"5000": UP},
        {**SERVING, "certificate": {"not_after": "2026-01-01T00:00:00+00:00", "days_left": -3}},
    )
    assert expired == {"verdict": "down", "reasons": ["the certificate expired on 2026-01-01"]}
    assert mlflow_status_verdict({}, None)["verdict"] == "down"


def test_the_overall_verdict_of_several_hosts():
    statuses = {
        "a": {"mlflow": {"instances": {"5000": UP}}, "nginx": SERVING},
        "b": None,
    }
    verdicts = mlflow_status_verdicts(statuses)
    assert verdicts["b"] == {
        "verdict": "down",
        "reasons": ["no status: the host failed or was unreachable"],
    }
    assert mlflow_overall_verdict(verdicts) == "degraded"
    assert mlflow_overall_verdict({"a": verdicts["a"]}) == "healthy"
    assert mlflow_overall_verdict({"b": verdicts["b"]}) == "down"
    assert mlflow_overall_verdict({}) == "down"


def test_the_table_ends_with_the_verdict():
    lines = mlflow_status_lines("h", {"instances": {"5000": UP, "5001": REFUSED}}, SERVING)
    assert lines[-1] == "  verdict      DEGRADED: mlflow@5001 is down (Connection refused)"
