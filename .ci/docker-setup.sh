#!/usr/bin/env bash
# Prepares a real Docker engine for the Docker backend's tests: Debian's docker.io, a running dockerd and an
# offline base image. There is no image registry here, so the base image is made with debootstrap from the
# Debian mirror apt already uses and imported under the names the sample YAMLs use, so they work unchanged.
# Idempotent: every step is skipped when its result is already there. Each step prints its duration.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

BASE_IMAGE=${ENDPOINTCTL_BASE_IMAGE:-endpointctl/base:bookworm}
# The names the sample deployment YAMLs (assets/samples/endpoints/online) give as `environment.image`.
SAMPLE_IMAGES=(mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest)
DOCKERD_LOG=${ENDPOINTCTL_DOCKERD_LOG:-/var/log/endpointctl-dockerd.log}

step_started=0
step() {
  step_started=$(date +%s)
  echo "== docker-setup: $*"
}
step_done() {
  echo "== docker-setup: done in $(($(date +%s) - step_started)) s"
}

debian_mirror() {
  # deb822 sources first (bookworm's default), then the one-line format.
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
      /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

step "packages (docker.io, debootstrap)"
missing=()
for pkg in docker.io debootstrap; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
step_done

step "engine"
if ! docker info >/dev/null 2>&1; then
  # setsid: dockerd must outlive this script and not receive the CI shell's signals.
  setsid nohup dockerd --storage-driver=overlay2 >"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "docker-setup: dockerd did not become ready; its log ($DOCKERD_LOG) ends with:" >&2
    tail -n 30 "$DOCKERD_LOG" >&2 || true
    exit 1
  fi
fi
docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}})'
step_done

step "base image $BASE_IMAGE"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  rootfs=$(mktemp -d /tmp/endpointctl-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  mirror=$(debian_mirror)
  echo "debootstrap bookworm from $mirror"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror" \
    >/tmp/endpointctl-debootstrap.log 2>&1 || {
    tail -n 30 /tmp/endpointctl-debootstrap.log >&2
    exit 1
  }
  # The apt caches are dead weight in every image built on top.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'LABEL endpointctl.base-image=bookworm' \
    --change 'CMD ["/bin/bash"]' \
    - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi
for name in "${SAMPLE_IMAGES[@]}"; do
  docker tag "$BASE_IMAGE" "$name"
done
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -F -e "$BASE_IMAGE" -e "${SAMPLE_IMAGES[0]}" || true
step_done
