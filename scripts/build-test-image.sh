#!/usr/bin/env bash
# Build the Debian 12 systemd image that molecule scenarios and `make demo` boot.
#
# There is no image registry here, so the root file system comes from debootstrap and is
# turned into an image with `docker import`. The image is built only when it is missing
# (FORCE=1 rebuilds it). Users with a registry can skip this entirely by pointing
# MLFLOW_PROVISION_TEST_IMAGE at an existing Debian 12 image that boots systemd.
set -euo pipefail

IMAGE=${MLFLOW_PROVISION_TEST_IMAGE:-mlflow-provision/debian12-systemd:latest}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=bookworm
# What a cloud VM has and what Ansible and the tests need: systemd as PID 1, python3 (and
# python3-apt for the apt module), sudo, CA store, iproute2 (ss, ip).
PACKAGES=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,curl

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "build-test-image: $IMAGE present"
    exit 0
fi
if [ "${MLFLOW_PROVISION_TEST_IMAGE:+set}" = set ] && [ "${FORCE:-0}" != 1 ]; then
    # A user-chosen image that is missing locally: try the registry before building.
    if docker pull "$IMAGE" >/dev/null 2>&1; then
        echo "build-test-image: pulled $IMAGE"
        exit 0
    fi
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    echo "build-test-image: installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq debootstrap >/dev/null
fi

rootfs=$(mktemp -d /var/tmp/mlflow-provision-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "build-test-image: debootstrap $SUITE into $rootfs"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || {
    tail -n 30 "$rootfs.log" >&2
    exit 1
}
rm -f "$rootfs.log"

cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
SOURCES

# Units that make no sense in a container and only slow the boot or fail.
for unit in getty@tty1.service console-getty.service systemd-udevd.service \
    systemd-udev-trigger.service systemd-firstboot.service systemd-remount-fs.service \
    sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# Every container gets its own machine id at first boot. (docker import cannot set
# STOPSIGNAL: containers are created with stop_signal SIGRTMIN+3 instead.)
: >"$rootfs/etc/machine-id"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb

echo "build-test-image: importing as $IMAGE"
tar -C "$rootfs" -c . | docker import \
    --change 'ENV container=docker' \
    --change 'CMD ["/lib/systemd/systemd"]' \
    - "$IMAGE" >/dev/null
echo "build-test-image: built $IMAGE"
