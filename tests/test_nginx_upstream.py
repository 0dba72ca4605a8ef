"""A drain through nginx, its logic: the upstream file, the kernel's TCP table, the workers."""

import socket

import pytest
from ansible_collections.mlflow_provision.tracking.plugins.module_utils import nginx_upstream as nu

UPSTREAM = """\
# Ansible managed
server 127.0.0.1:5000 max_fails=1 fail_timeout=5s;
server 127.0.0.1:5001 max_fails=1 fail_timeout=5s;  # second instance
"""


def test_servers_lists_each_line_and_its_state():
    assert nu.servers(UPSTREAM) == {"127.0.0.1:5000": False, "127.0.0.1:5001": False}
    assert nu.servers("server [::1]:5000 down;\n") == {"[::1]:5000": True}


def test_set_down_touches_only_the_named_server_and_round_trips():
    drained = nu.set_down(UPSTREAM, "127.0.0.1:5001", True)
    assert nu.servers(drained) == {"127.0.0.1:5000": False, "127.0.0.1:5001": True}
    assert "server 127.0.0.1:5001 max_fails=1 fail_timeout=5s down;  # second instance\n" in drained
    assert nu.set_down(drained, "127.0.0.1:5001", False) == UPSTREAM
    # Idempotent both ways, and a server that is not listed changes nothing.
    assert nu.set_down(drained, "127.0.0.1:5001", True) == drained
    assert nu.set_down(UPSTREAM, "127.0.0.1:6000", True) == UPSTREAM


@pytest.mark.parametrize("bad", ["127.0.0.1", "127.0.0.1:http", ":"])
def test_parse_address_rejects_what_is_not_host_port(bad):
    with pytest.raises(ValueError):
        nu.parse_address(bad)


def _table(*rows):
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    return header + "".join(
        f"   {i}: {local} {remote} {state} 00000000:00000000 00:00000000 00000000  0\n"
        for i, (local, remote, state) in enumerate(rows)
    )


def test_established_to_counts_the_remote_end_only():
    # 127.0.0.1:5000 is 0100007F:1388; :5001 is 1389.
    v4 = _table(
        ("0100007F:D431", "0100007F:1388", "01"),  # nginx -> 5000, established
        ("0100007F:1388", "0100007F:D431", "01"),  # the server's side of the same connection
        ("0100007F:D432", "0100007F:1388", "06"),  # TIME_WAIT: over
        ("0100007F:D433", "0100007F:1389", "01"),  # to the other instance
    )
    # ::ffff:127.0.0.1 -> :5000 in tcp6 (an IPv4-mapped address).
    v6 = _table(
        ("0000000000000000FFFF00000100007F:D434", "0000000000000000FFFF00000100007F:1388", "01")
    )
    assert nu.established_to("127.0.0.1:5000", {4: v4, 6: v6}) == 2
    assert nu.established_to("127.0.0.1:5001", {4: v4, 6: v6}) == 1
    assert nu.established_to("[::1]:5000", {4: v4, 6: v6}) == 0


def test_established_to_reads_the_live_kernel_table():
    """A real connection to a local listener is seen; once closed it is not."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    client = socket.create_connection(listener.getsockname())
    server_side, _ = listener.accept()
    try:
        assert nu.established_to(address, nu.read_tcp_tables()) == 1
    finally:
        client.close()
        server_side.close()
        listener.close()
    assert nu.established_to(address, nu.read_tcp_tables()) == 0


def _process(proc, pid, ppid, title, comm="nginx"):
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} ({comm}) S {ppid} {pid} {pid} 0 -1\n")
    (proc / str(pid) / "cmdline").write_bytes(title.encode() + b"\0")


def test_worker_pids_are_the_masters_children_that_take_requests(tmp_path):
    _process(tmp_path, 100, 1, "nginx: master process /usr/sbin/nginx")
    _process(tmp_path, 101, 100, "nginx: worker process")
    _process(tmp_path, 102, 100, "nginx: worker process")
    _process(tmp_path, 103, 100, "nginx: worker process is shutting down")
    _process(tmp_path, 104, 100, "nginx: cache manager process")
    _process(tmp_path, 105, 999, "nginx: worker process")  # another master's
    _process(tmp_path, 106, 100, "nginx: worker process", comm="odd) name (x")
    (tmp_path / "self").mkdir()
    assert nu.worker_pids(100, proc=str(tmp_path)) == {101, 102, 106}
