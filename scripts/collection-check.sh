#!/usr/bin/env bash
# Build the collection tarball, install it into a scratch collections path (not the clone's
# link) and run its playbooks by FQCN from outside the repository: the input check of an
# inventory passes, a bad variable fails naming it, and ansible-doc finds the plugins.
# Usage: scripts/collection-check.sh   (make collection)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/.cache/collection-check
rm -rf "$work"
mkdir -p "$work/dist" "$work/installed" "$work/run"

ansible-galaxy collection build --force --output-path "$work/dist" . >/dev/null
tarball=$(ls "$work"/dist/mlflow_provision-tracking-*.tar.gz)
echo "collection-check: built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
# The tarball must hold no development files.
if tar -tzf "$tarball" | grep -E '(^|/)(\.cache|\.venv|tests|molecule|benchmarks|__pycache__)/' ; then
    echo "collection-check: development files in the tarball" >&2
    exit 1
fi

# Outside the clone, with a configuration that knows only the installed copy.
cat >"$work/run/ansible.cfg" <<EOF
[defaults]
collections_path = $work/installed
interpreter_python = auto_silent
stdout_callback = ansible.builtin.default
EOF
cat >"$work/run/hosts.yml" <<EOF
mlflow_servers:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: $(command -v python)
      base_firewall_admin_cidrs: [192.0.2.0/24]
      nginx_tls_credentials_dir: $work/run/credentials
EOF
export ANSIBLE_CONFIG=$work/run/ansible.cfg ANSIBLE_NOCOLOR=1
# Galaxy is not reachable; the dependencies come with the `ansible` package.
ansible-galaxy collection install --force --no-deps -p "$work/installed" "$tarball" >/dev/null

cd "$work/run"

where=$(ansible-galaxy collection list mlflow_provision.tracking 2>/dev/null | grep -m1 '^# ')
case "$where" in
    "# $work/installed/ansible_collections") ;;
    *) echo "collection-check: resolved from '$where', not the installed copy" >&2; exit 1 ;;
esac
ansible-doc mlflow_provision.tracking.validate_input >/dev/null

ansible-playbook -i hosts.yml mlflow_provision.tracking.validate >validate-ok.log 2>&1 || {
    cat validate-ok.log; echo "collection-check: valid inventory refused" >&2; exit 1; }
echo "collection-check: mlflow_provision.tracking.validate passes a valid inventory"

if ansible-playbook -i hosts.yml mlflow_provision.tracking.deploy --check \
        -e mlflow_server_workers=0 -e nginx_tls_http_port=443 >deploy-bad.log 2>&1; then
    cat deploy-bad.log; echo "collection-check: bad input accepted" >&2; exit 1
fi
for expected in "mlflow_server_workers: 0 must be at least 1" \
                "nginx_tls_http_port: 443 is also nginx_tls_https_port"; do
    grep -qF "$expected" deploy-bad.log || {
        cat deploy-bad.log; echo "collection-check: missing '$expected'" >&2; exit 1; }
done
if grep -q "PLAY \[Configure MLflow hosts\]" deploy-bad.log; then
    echo "collection-check: the configuring play started after bad input" >&2; exit 1
fi
echo "collection-check: mlflow_provision.tracking.deploy stops bad input before any change"
