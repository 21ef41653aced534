#!/usr/bin/env bash
# Builds the runtime image of `app` from what is on this machine, without pulling anything:
# the host's release binary, the shared libraries `ldd` says it needs, a minimal /etc/passwd and /etc/group with
# a non-root user, assembled in a temporary build context and built `FROM scratch` (which needs no pull).
#
# The image has the same layout as the runtime stage of the Dockerfile (user app 10001:10001, WORKDIR /app,
# /app/spool and /app/logs owned by that user, ENTRYPOINT app, the same HEALTHCHECK), so docker-compose.yml runs it
# unchanged. It is meant for machines that cannot pull `rust` / `debian` base images (CI sandboxes, offline
# laptops); users build the real image with `docker compose up --build`.
#
# Usage: scripts/docker-image-from-host.sh IMAGE_TAG [BINARY]
#   IMAGE_TAG  tag to give the image, e.g. appliance-etl:host
#   BINARY     a release binary built on this machine; default: `cargo build --release --locked`, then
#              target/release/app. (APP_BIN in the environment works too.)
# Env: CARGO_BUILD_TIMEOUT (seconds, default 420), DOCKER_BUILD_TIMEOUT (seconds, default 300).
set -euo pipefail

tag=${1:?usage: $0 IMAGE_TAG [BINARY]}
bin=${2:-${APP_BIN:-}}
repo=$(cd "$(dirname "$0")/.." && pwd)

if [[ -z "$bin" ]]; then
  echo "image: cargo build --release --locked (in $repo)"
  (cd "$repo" && timeout "${CARGO_BUILD_TIMEOUT:-420}" cargo build --release --locked -q)
  bin="$repo/target/release/app"
fi
[[ -x "$bin" ]] || { echo "image: $bin is not an executable" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/app-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ctx="$tmp/context"
root="$ctx/rootfs"
appdirs="$ctx/appdirs"
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$appdirs/app/spool" "$appdirs/app/logs"
chmod 1777 "$root/tmp"

# The binary, without DWARF debug info (symbols stay, for the CPU profiler's flamegraphs).
if command -v objcopy >/dev/null; then
  objcopy --strip-debug "$bin" "$root/usr/local/bin/app"
else
  cp "$bin" "$root/usr/local/bin/app"
fi
chmod 0755 "$root/usr/local/bin/app"

# Its shared libraries and the dynamic loader, at the paths the binary asks for (copied, not linked).
libs=$(ldd "$bin" | awk '/=>/ && $3 ~ /^\// {print $3} /^[[:space:]]*\// {print $1}' | sort -u)
[[ -n "$libs" ]] || { echo "image: ldd found no libraries in $bin (a static binary needs none)" >&2; }
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# The default configuration and sample inventory, as the Dockerfile copies them (owned by root, read-only to app).
mkdir -p "$root/app/config"
cp "$repo"/config/*.toml "$root/app/config/"
cp "$repo/appliances.csv" "$root/app/appliances.csv"
chmod -R a+rX,go-w "$root/app"

# Users, groups and name resolution (Docker mounts /etc/hosts and /etc/resolv.conf at run time).
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
app:x:10001:10001:app:/app:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
app:x:10001:
nogroup:x:65534:
EOF
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"

cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
COPY --chown=10001:10001 appdirs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin
WORKDIR /app
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["app", "healthcheck", "--url", "http://127.0.0.1:8080/health", "--timeout-ms", "3000"]
ENTRYPOINT ["app"]
CMD ["--help"]
EOF

echo "image: docker build $tag from $bin ($(echo "$libs" | wc -w) shared libraries)"
# The legacy builder: it builds FROM scratch without BuildKit or buildx (neither may be installed). Its output is
# shown only when the build fails (it always warns that it is deprecated).
if ! DOCKER_BUILDKIT=0 timeout "${DOCKER_BUILD_TIMEOUT:-300}" \
  docker build --label org.opencontainers.image.source=host-binary -t "$tag" "$ctx" >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log" >&2
  echo "image: docker build failed" >&2
  exit 1
fi
# A smoke test: the binary starts in the image (libraries and loader complete).
timeout 60 docker run --rm --pull never --network none "$tag" --version
