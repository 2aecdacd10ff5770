#!/usr/bin/env bash
# Builds the bucketftp image from this checkout without pulling anything.
#   deploy/build-image.sh [TAG]     (default bucketftp:local)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-bucketftp:local}"
VERSION="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$ctx/bucketftp" ./cmd/bucketftp
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
mkdir -p "$ctx/rootfs/tmp" "$ctx/data"
chmod 1777 "$ctx/rootfs/tmp"
printf 'bucketftp:x:65532:65532:bucketftp:/data:/nonexistent\n' > "$ctx/rootfs/passwd.tmp"
mkdir -p "$ctx/rootfs/etc" && mv "$ctx/rootfs/passwd.tmp" "$ctx/rootfs/etc/passwd"
printf 'bucketftp:x:65532:\n' > "$ctx/rootfs/etc/group"
docker build -q -t "$TAG" -f deploy/Dockerfile "$ctx" >/dev/null
echo "built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.1f MB", $1/1e6}'))"
