# Copyright (c) mlflow-provision developers
# Apache License 2.0 (see galaxy.yml)
"""Filters of playbooks/status.yml: what the hosts answered, parsed, and the readable table."""

from __future__ import annotations

import datetime as dt


def mlflow_systemd_units(text):
    """`systemctl show --property=Id,...` output for several units (blocks separated by blank
    lines) as {unit: {property: value}}."""
    units = {}
    for block in str(text).strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            units[props.pop("Id")] = props
    return units


def mlflow_instance_answers(health, served):
    """The registered loops of uri calls to each instance's /health and of
    `mlflow-host instance-versions` as {port: {"health": answer or None, "version": the
    versions it runs or None, "error": what /health said otherwise}}."""
    instances = {}
    for result in health:
        entry = {"health": None, "version": None, "error": None}
        if result.get("status") == 200:
            entry["health"] = str(result.get("content", "")).strip()
        else:
            entry["error"] = result.get("msg") or f"HTTP {result.get('status')}"
        instances[str(result["item"])] = entry
    for result in served:
        versions = str(result.get("stdout", "")).strip()
        if str(result["item"]) in instances and result.get("rc") == 0 and versions:
            instances[str(result["item"])]["version"] = versions
    return instances


def nginx_certificate_dates(text, now=None):
    """`openssl x509 -noout -enddate -subject -issuer` output as {not_after, days_left,
    subject, issuer} (days_left negative once expired)."""
    fields = {}
    for line in str(text).splitlines():
        key, value = line.split("=", 1) if "=" in line else (line, "")
        fields[key.strip()] = value.strip()
    not_after = dt.datetime.strptime(fields["notAfter"], "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=dt.UTC
    )
    now = now or dt.datetime.now(dt.UTC)
    return {
        "not_after": not_after.isoformat(),
        "days_left": (not_after - now).days,
        "subject": fields.get("subject", ""),
        "issuer": fields.get("issuer", ""),
    }


def _timer_state(timer, service):
    """{timer, next, last_run, last_result} of a timer and its service's `systemctl show`."""
    return {
        "timer": timer.get("ActiveState", ""),
        "next": timer.get("NextElapseUSecRealtime") or None,
        "last_run": timer.get("LastTriggerUSec") or None,
        "last_result": service.get("Result") if timer.get("LastTriggerUSec") else None,
    }


def nginx_acme_renewal(text):
    """`systemctl show` of the ACME renewal timer and its service (role nginx_tls, mode acme) as
    {timer, next, last_run, last_result}; None when there is no such timer."""
    units = mlflow_systemd_units(text)
    timer = next((v for k, v in units.items() if k.endswith(".timer")), {})
    service = next((v for k, v in units.items() if k.endswith(".service")), {})
    if timer.get("LoadState") != "loaded":
        return None
    return _timer_state(timer, service)


def mlflow_gc_state(units, retention_days):
    """The purge of deleted runs (role mlflow_server's mlflow-gc.timer) from the parsed units:
    {retention_days, timer, next, last_run, last_result}; None when it is off."""
    timer = units.get("mlflow-gc.timer", {})
    if int(retention_days or 0) <= 0 or timer.get("LoadState") != "loaded":
        return None
    state = _timer_state(timer, units.get("mlflow-gc.service", {}))
    return {"retention_days": int(retention_days), **state}


def _timer_line(label, state, what=""):
    last = (
        f"last run {state['last_run']}: {state['last_result']}"
        if state.get("last_run")
        else "not run yet"
    )
    upcoming = state.get("next") or "-"
    return f"  {label:<12} {what}timer {state['timer']}, next {upcoming}; {last}"


def _size(num):
    num = float(num or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if num < 1024 or unit == "TiB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    return f"{num:.1f} TiB"  # pragma: no cover


def _age(seconds):
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def balancer_verdict(balancer):
    """What a load balancer probing this host would do, from its probe path's answer."""
    status, answer = int(balancer.get("status") or -1), str(balancer.get("answer") or "")
    if status == 200:
        return "in rotation (the probe answers 200)"
    if status == 503:
        return f"OUT of rotation: {answer or 'the probe answers 503'}"
    return f"OUT of rotation: the probe gets no answer ({answer or 'nginx unreachable'})"


def mlflow_status_verdict(server, proxy=None):
    """One host's verdict from where its clients are: {"verdict": "healthy" | "degraded" |
    "down", "reasons": [...]}. Down: nothing answers through nginx (nginx stopped, no instance
    healthy, out of the balancer's rotation, the certificate expired); degraded: it serves, with
    fewer instances than it has; healthy: every instance and nginx answer."""
    if not server:
        return {"verdict": "down", "reasons": ["no status: the host failed or was unreachable"]}
    down, degraded = [], []
    instances = server.get("instances") or {}
    sick = {port: answer for port, answer in instances.items() if not answer.get("health")}
    if not instances:
        down.append("no MLflow instance is configured")
    elif len(sick) == len(instances):
        down.append("no MLflow instance answers /health")
    for port, answer in sorted(sick.items()):
        (down if len(sick) == len(instances) else degraded).append(
            f"mlflow@{port} is down ({answer.get('error') or 'no answer'})"
        )
    if proxy is not None:
        if proxy.get("state") != "active":
            down.append(f"nginx is {proxy.get('state') or 'not running'}")
        else:
            balancer = proxy.get("balancer") or {}
            if int(balancer.get("status") or -1) != 200:
                down.append(balancer_verdict(balancer))
        cert = proxy.get("certificate")
        if cert and int(cert.get("days_left", 0)) < 0:
            down.append(f"the certificate expired on {cert['not_after'][:10]}")
    verdict = "down" if down else "degraded" if degraded else "healthy"
    return {"verdict": verdict, "reasons": down + degraded}


def mlflow_status_verdicts(statuses):
    """Each host's verdict from every host's status ({host: {"mlflow": ..., "nginx": ...} or
    None when it could not be read}), as {host: mlflow_status_verdict}."""
    return {
        host: mlflow_status_verdict((status or {}).get("mlflow") or {}, (status or {}).get("nginx"))
        for host, status in statuses.items()
    }


def mlflow_overall_verdict(verdicts):
    """All hosts' verdicts ({host: mlflow_status_verdict}) as one: healthy when every host is,
    down when none serves, degraded otherwise (a cluster still serves with a host down)."""
    words = [entry["verdict"] for entry in verdicts.values()]
    if words and all(word == "healthy" for word in words):
        return "healthy"
    if not words or all(word == "down" for word in words):
        return "down"
    return "degraded"


def mlflow_status_lines(host, server, proxy=None):
    """One host's status (the facts mlflow_server_status and nginx_tls_status) as table lines."""
    lines = [f"{host}: MLflow {server.get('installed_version') or 'not installed'}"]
    units = server.get("units", {})
    jobs_host = server.get("jobs_host")
    for port, answer in sorted(server.get("instances", {}).items()):
        unit = units.get(f"mlflow@{port}.service", {})
        state = f"{unit.get('ActiveState', '?')}/{unit.get('SubState', '?')}"
        health = answer.get("health") or f"DOWN ({answer.get('error')})"
        lines.append(
            f"  mlflow@{port:<6} {state:<18} health {health:<4}  serves "
            f"{answer.get('version') or '-'}  restarts {unit.get('NRestarts', '?')}"
        )
    data = server.get("data")
    if data is None:
        lines.append(f"  data         unreadable: {server.get('data_error')}")
    else:
        for role, db in sorted(data.get("databases", {}).items()):
            state = "at head" if db["at_head"] else f"NOT at head {db['head']}"
            lines.append(
                f"  {role:<12} {db['kind']:<10} revision {db['revision']} ({state}),"
                f" {_size(db['bytes'])}"
            )
        if "artifacts" in data:
            art = data["artifacts"]
            lines.append(
                f"  artifacts    {_size(art['bytes'])} in {art['files']} files ({art['path']})"
            )
        backups = data.get("backups", {})
        newest = backups.get("newest")
        last = (
            f"newest {newest['name']}, {_age(newest['age_seconds'])} ago" if newest else "NO BACKUP"
        )
        if jobs_host:
            # A cluster's other host: its backups hold its configuration only.
            last = f"{last}; the shared databases: the backups of {jobs_host}"
        lines.append(
            f"  backups      {backups.get('count', 0)}, {_size(backups.get('bytes'))}; {last}"
        )
    timer = units.get("mlflow-backup.timer", {})
    scheduled = "on" if timer.get("ActiveState") == "active" else "off"
    if jobs_host:
        scheduled = f"{scheduled} here; the cluster's scheduled jobs run on {jobs_host}"
    lines.append(f"  backup timer {scheduled}")
    gc = server.get("gc")
    if gc:
        lines.append(_timer_line("purge", gc, f"after {gc['retention_days']} days; "))
    else:
        lines.append("  purge        off (deleted runs and their artifacts are kept)")
    if proxy:
        cert = proxy.get("certificate")
        if cert:
            lines.append(
                f"  certificate  expires {cert['not_after'][:10]} (in {cert['days_left']} days),"
                f" issuer {cert['issuer']}"
            )
        renewal = proxy.get("renewal")
        if renewal:
            lines.append(_timer_line("renewal", renewal))
        lines.append(f"  nginx        {proxy.get('state', '?')}")
        balancer = proxy.get("balancer")
        if balancer:
            lines.append(f"  balancer     {balancer_verdict(balancer)}")
    judged = mlflow_status_verdict(server, proxy)
    reasons = "; ".join(judged["reasons"])
    lines.append(f"  verdict      {judged['verdict'].upper()}{': ' + reasons if reasons else ''}")
    return lines


class FilterModule:
    def filters(self):
        return {
            "mlflow_systemd_units": mlflow_systemd_units,
            "mlflow_instance_answers": mlflow_instance_answers,
            "nginx_certificate_dates": nginx_certificate_dates,
            "nginx_acme_renewal": nginx_acme_renewal,
            "mlflow_gc_state": mlflow_gc_state,
            "mlflow_status_lines": mlflow_status_lines,
            "mlflow_status_verdict": mlflow_status_verdict,
            "mlflow_status_verdicts": mlflow_status_verdicts,
            "mlflow_overall_verdict": mlflow_overall_verdict,
        }
