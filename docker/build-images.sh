#!/usr/bin/env bash
# build-images.sh builds the images docker-compose.yml runs, with no image
# registry: nothing is pulled.
#
#   zkd/zkd:local          cmd/zkd as a static binary (CGO_ENABLED=0) FROM scratch
#   zkd/prometheus:local   the local Prometheus binary (Debian package prometheus,
#                          /usr/bin/prometheus) and promtool, with the shared
#                          libraries they link, imported from a rootfs tarball
#
# Environment: GO (the go command), ZKD_IMAGE and ZKD_PROMETHEUS_IMAGE (the
# tags, as docker-compose.yml reads them), PROMETHEUS_BIN (the Prometheus
# binary; promtool is taken from the same directory), SKIP_PROMETHEUS=1 to
# build only zkd (e.g. with ZKD_PROMETHEUS_IMAGE=prom/prometheus:<tag> from
# a registry).
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
ZKD_IMAGE=${ZKD_IMAGE:-zkd/zkd:local}
ZKD_PROMETHEUS_IMAGE=${ZKD_PROMETHEUS_IMAGE:-zkd/prometheus:local}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-$(command -v prometheus || echo /usr/bin/prometheus)}

# untag_old removes the image a tag pointed to before a rebuild, when
# nothing else uses it, so that rebuilds leave no dangling images behind.
untag_old() {
	local old=$1 tag=$2
	if [[ -n "$old" && "$old" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]]; then
		docker rmi "$old" >/dev/null 2>&1 || true
	fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Build for the daemon's architecture, which need not be the client's.
arch=$(docker version --format '{{.Server.Arch}}')
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

# ---- zkd ----
ctx="$work/zkd"
mkdir -p "$ctx/data"
echo "build-images: go build ./cmd/zkd (linux/$arch, CGO_ENABLED=0)"
CGO_ENABLED=0 GOOS=linux GOARCH="$arch" "$GO" build -trimpath -ldflags='-s -w' -o "$ctx/zkd" ./cmd/zkd
# Trust roots for tracing to an https OTLP collector; an empty bundle where
# the build machine has none (tracing over plain http still works).
if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
	cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
else
	: >"$ctx/ca-certificates.crt"
fi
cp docker/zkd.Dockerfile "$ctx/Dockerfile"
old=$(docker image inspect --format '{{.Id}}' "$ZKD_IMAGE" 2>/dev/null || true)
docker build --quiet --tag "$ZKD_IMAGE" \
	--label org.opencontainers.image.title=zkd \
	--label org.opencontainers.image.revision="$revision" \
	--label org.opencontainers.image.source=https://github.com/zkd-io/zkd \
	"$ctx" >/dev/null
untag_old "$old" "$ZKD_IMAGE"
echo "build-images: $ZKD_IMAGE"

# ---- Prometheus ----
if [[ "${SKIP_PROMETHEUS:-}" == 1 ]]; then
	exit 0
fi
if [[ ! -x "$PROMETHEUS_BIN" ]]; then
	echo "build-images: no Prometheus binary at $PROMETHEUS_BIN (apt-get install prometheus, or set PROMETHEUS_BIN;" >&2
	echo "  with a registry: SKIP_PROMETHEUS=1 and ZKD_PROMETHEUS_IMAGE=prom/prometheus:<tag>)" >&2
	exit 1
fi
if [[ "$("$GO" env GOHOSTARCH)" != "$arch" ]]; then
	echo "build-images: the local Prometheus binary is for $("$GO" env GOHOSTARCH), the Docker daemon runs $arch" >&2
	exit 1
fi
promtool_bin="$(dirname "$PROMETHEUS_BIN")/promtool"
root="$work/prometheus-root"
mkdir -p "$root/bin" "$root/etc/prometheus/rules" "$root/prometheus" "$root/tmp"
cp "$PROMETHEUS_BIN" "$root/bin/prometheus"
[[ -x "$promtool_bin" ]] && cp "$promtool_bin" "$root/bin/promtool"
# The shared libraries the binaries link (Debian's are built with cgo: libc
# and the dynamic loader), at the paths the binaries look for them.
for bin in "$root"/bin/*; do
	ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+' || true
done | sort -u | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
# Debian's classic web UI (templates and static files, which the binary
# serves from /usr/share/prometheus/web), its symlinks into
# /usr/share/javascript resolved; moment-timezone's 200 MB of data files
# are left out (the UI loads only moment-timezone-with-data.min.js).
if [[ -d /usr/share/prometheus/web ]]; then
	mkdir -p "$root/usr/share/prometheus"
	tar -C /usr/share/prometheus --dereference --exclude=web/static/moment-timezone/data -cf - web |
		tar -C "$root/usr/share/prometheus" -xf -
fi
cp docker/prometheus/prometheus.yml "$root/etc/prometheus/prometheus.yml"
cp alerts/zkd.rules.yml "$root/etc/prometheus/rules/zkd.rules.yml"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
printf 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/prometheus:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"
# Everything root-owned except the data directory, which belongs to nobody,
# the user Prometheus runs as (as in the prom/prometheus image).
tar -C "$root" --numeric-owner --owner=0 --group=0 --exclude=./prometheus -cf "$work/rootfs.tar" .
tar -C "$root" --numeric-owner --owner=65534 --group=65534 -rf "$work/rootfs.tar" ./prometheus
old=$(docker image inspect --format '{{.Id}}' "$ZKD_PROMETHEUS_IMAGE" 2>/dev/null || true)
# Same layout and defaults as prom/prometheus, so either image serves
# docker-compose.yml.
docker import \
	--change 'USER 65534:65534' \
	--change 'WORKDIR /prometheus' \
	--change 'VOLUME ["/prometheus"]' \
	--change 'EXPOSE 9090' \
	--change 'ENTRYPOINT ["/bin/prometheus"]' \
	--change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
	--change "LABEL org.opencontainers.image.title=prometheus org.opencontainers.image.version=$("$PROMETHEUS_BIN" --version 2>&1 | awk 'NR==1{print $3}')" \
	"$work/rootfs.tar" "$ZKD_PROMETHEUS_IMAGE" >/dev/null
untag_old "$old" "$ZKD_PROMETHEUS_IMAGE"
echo "build-images: $ZKD_PROMETHEUS_IMAGE"
