#!/usr/bin/env bash
# Builds the MinIO image the integration tests use, from MinIO's Go source,
# for machines that cannot pull from a container registry. The image gets
# the official name and tag, so the same tests pull the real image where a
# registry is reachable and use this one where it is not.
#
#   integration/build-minio-image.sh            # build unless present
#   MINIO_IMAGE=minio/minio:TAG integration/build-minio-image.sh
set -euo pipefail

IMAGE="${MINIO_IMAGE:-minio/minio:RELEASE.2025-09-07T16-13-09Z}"
MINIO_MODULE="github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "image $IMAGE present"
  exit 0
fi

gobin="$(go env GOPATH)/bin"
want="${MINIO_MODULE#*@}"
if ! go version -m "$gobin/minio" 2>/dev/null | grep -q "mod.*github.com/minio/minio.*$want"; then
  echo "building MinIO server ($MINIO_MODULE); this takes a few minutes"
  CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "$MINIO_MODULE"
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp "$gobin/minio" "$ctx/minio"
mkdir -p "$ctx/rootfs/data" "$ctx/rootfs/tmp"
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
COPY minio /usr/bin/minio
ENV HOME=/tmp
EXPOSE 9000
VOLUME ["/data"]
ENTRYPOINT ["/usr/bin/minio"]
CMD ["server", "/data"]
DOCKERFILE
docker build -q -t "$IMAGE" "$ctx"
echo "built $IMAGE"
