#!/usr/bin/env bash
# Build the collection tarball, install it into a scratch collections path (not the clone's
# link) and run its playbooks by FQCN from outside the repository: the input check of an
# inventory passes, a bad variable fails naming it, and ansible-doc finds the plugins. Then
# `ansible-test sanity` on what the collection ships (plugins/, roles/, playbooks/, meta/).
# Usage: scripts/collection-check.sh   (make collection)
set -euo pipefail
trap 'echo "collection-check: failed (rc=$?) at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."
root=$PWD
work=$root/.cache/collection-check
rm -rf "$work"
mkdir -p "$work/dist" "$work/installed" "$work/run"

ansible-galaxy collection build --force --output-path "$work/dist" . >"$work/build.log" 2>&1 || {
    cat "$work/build.log"; exit 1; }
tarball=$(ls "$work"/dist/mlflow_provision-tracking-*.tar.gz)
echo "collection-check: built $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
# The tarball must hold no development files.
if tar -tzf "$tarball" | grep -E '(^|/)(\.cache|\.venv|tests|molecule|benchmarks|__pycache__)/|local_host|systemd_container|test_image' ; then
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
ansible-galaxy collection install --force --no-deps -p "$work/installed" "$tarball" >"$work/install.log" 2>&1 || {
    cat "$work/install.log"; exit 1; }

cd "$work/run"

# The whole listing first: `grep -m1` on the pipe would close it early, and ansible-galaxy
# dies of the broken pipe (rc 250) when it writes on.
listing=$(ansible-galaxy collection list mlflow_provision.tracking 2>&1)
where=$(grep -m1 '^# ' <<<"$listing")
case "$where" in
    "# $work/installed/ansible_collections") ;;
    *) echo "collection-check: resolved from '$where', not the installed copy" >&2; exit 1 ;;
esac
for plugin in validate_input mlflow_server_auth nginx_tls_htpasswd nginx_upstream_server azure_vm_stack; do
    ansible-doc "mlflow_provision.tracking.$plugin" >doc.log 2>&1 || { cat doc.log; exit 1; }
done
for playbook in site deploy validate restart backup restore upgrade status destroy_azure; do
    ansible-playbook -i hosts.yml --syntax-check "mlflow_provision.tracking.$playbook" >syntax.log 2>&1 || {
        cat syntax.log; echo "collection-check: mlflow_provision.tracking.$playbook does not load" >&2; exit 1; }
done
echo "collection-check: every playbook loads by FQCN (site, deploy, validate, restart, backup, restore, upgrade, status, destroy_azure)"

ansible-playbook -i hosts.yml mlflow_provision.tracking.validate >validate-ok.log 2>&1 || {
    cat validate-ok.log; echo "collection-check: valid inventory refused" >&2; exit 1; }
echo "collection-check: mlflow_provision.tracking.validate passes a valid inventory"

if ansible-playbook -i hosts.yml mlflow_provision.tracking.site --check \
        -e mlflow_server_workers=0 -e nginx_tls_http_port=443 >deploy-bad.log 2>&1; then
    cat deploy-bad.log; echo "collection-check: bad input accepted" >&2; exit 1
fi
for expected in "mlflow_server_workers: 0 is outside 1-64" \
                "nginx_tls_http_port: 443 is also nginx_tls_https_port"; do
    grep -qF "$expected" deploy-bad.log || {
        cat deploy-bad.log; echo "collection-check: missing '$expected'" >&2; exit 1; }
done
if grep -q "PLAY \[Configure MLflow hosts\]" deploy-bad.log; then
    echo "collection-check: the configuring play started after bad input" >&2; exit 1
fi
echo "collection-check: mlflow_provision.tracking.site stops bad input before any change"

# The Azure play of site.yml includes role azure_vm by FQCN; bad input stops it before Azure.
if ansible-playbook -i hosts.yml mlflow_provision.tracking.site -e azure_vm_provision=true \
        -e azure_vm_dns_label=-x >azure-bad.log 2>&1; then
    cat azure-bad.log; echo "collection-check: bad Azure input accepted" >&2; exit 1
fi
grep -qF 'azure_vm_dns_label: "-x" breaks the Azure rule' azure-bad.log || {
    cat azure-bad.log; echo "collection-check: role azure_vm did not check its input" >&2; exit 1; }
echo "collection-check: mlflow_provision.tracking.site runs role azure_vm, which stops bad input"

# ansible-test wants the collection at ansible_collections/<namespace>/<name> in a git tree.
src=$work/src/ansible_collections/mlflow_provision/tracking
mkdir -p "$src"
(cd "$root" && git ls-files -z | xargs -0 tar -c) | tar -x -C "$src"
(cd "$src" && git init -q && git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm sanity)
# ansible-test bootstraps pip in its venvs with a script from ci-files.testing.ansible.com,
# which is not reachable here; the interpreter's bundled pip (ensurepip) does the same job.
pip_version=$(python - <<'PY'
import re, pathlib, ansible_test
text = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", text).group(1))
PY
)
bootstrap=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -s "$bootstrap" ]; then
    mkdir -p "$(dirname "$bootstrap")"
    printf '%s\n' "import subprocess, sys" \
        "subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])" >"$bootstrap"
fi
unset ANSIBLE_CONFIG
(cd "$src" && ansible-test sanity --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    plugins/ roles/ playbooks/ meta/ >"$work/sanity.log" 2>&1) || {
    grep -v '^WARNING' "$work/sanity.log"; echo "collection-check: ansible-test sanity failed" >&2; exit 1; }
echo "collection-check: ansible-test sanity passed ($(grep -c '^Running sanity test' "$work/sanity.log") tests)"
