#!/usr/bin/env bash
# End to end on a real cluster, checking what the API emulator stands in for everywhere
# else: a kind cluster, Istio installed by istioctl (sidecar mode, minimal profile) and its
# Prometheus addon, the controller image built from this checkout and loaded into kind, the
# chart installed from it; then
#   1. the integration suite pointed at the cluster (ROLLOUT_TEST_KUBECONFIG: the real API
#      server, our CRD's real validation, Istio's real CRDs and webhook), and
#   2. two real canaries through the installed controller, started with the CLI, judged on
#      Istio's own metrics in Prometheus: v2 (healthy) must succeed, v3 (500 on half its
#      requests) must roll back, and the mesh must say so.
#
# Usage: scripts/e2e-kind.sh            everything, then the cluster is deleted (make e2e-kind)
#        E2E_KEEP=1 scripts/e2e-kind.sh keep the cluster to look around (KUBECONFIG is printed)
#        scripts/e2e-kind.sh down       delete a kept cluster
# Needs Docker (23+), curl and tar, and the project's virtualenv (PYTHON, default .venv's).
# The pinned tools below are downloaded once into $E2E_TOOLS, checked against their
# published SHA-256; nothing is installed system-wide and ~/.kube/config is not touched.
# On failure, logs and the cluster's state go to $E2E_ARTIFACTS.
set -euo pipefail

# Pinned versions: bump deliberately. kind's release fixes the Kubernetes version tested
# (its default node image).
KIND_VERSION=v0.31.0
KUBECTL_VERSION=v1.35.0
HELM_VERSION=v3.19.3
ISTIO_VERSION=1.30.4

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLUSTER=${E2E_CLUSTER:-meshrollout-e2e}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
WORK=${E2E_WORK:-${TMPDIR:-/tmp}/meshrollout-e2e}
TOOLS=${E2E_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/meshrollout-e2e/$KIND_VERSION-$KUBECTL_VERSION-$HELM_VERSION-$ISTIO_VERSION}
ARTIFACTS=${E2E_ARTIFACTS:-$WORK/artifacts}
IMAGE=meshrollout:e2e
CONTROLLER_NS=meshrollout
SHOP_NS=e2e-shop
SHOP=$ROOT/scripts/e2e-kind/shop.yaml
# Short steps so a run takes minutes; inconclusive evaluations are tolerated while
# Prometheus (scraping every 15 s) catches up, so a slow start holds instead of pausing.
FAST=(--steps "50,100" --step-duration 30s --interval 10s --min-requests 20 --max-inconclusive 30)
export KUBECONFIG=$WORK/kubeconfig
export PATH=$TOOLS:$PATH

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'e2e-kind: %s\n' "$*" >&2; exit 1; }

platform() {
  case "$(uname -s)" in
    Linux) OS=linux ;;
    Darwin) OS=darwin ;;
    *) die "unsupported system $(uname -s): Linux or macOS" ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) ARCH=amd64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) die "unsupported machine $(uname -m): amd64 or arm64" ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

# fetch URL SUMS_URL DEST: download URL to DEST and check it against the first field of
# SUMS_URL (each project publishes its checksum beside the file).
fetch() {
  local url=$1 sums=$2 dest=$3 want got
  curl -fsSL --retry 3 -o "$dest" "$url"
  want=$(curl -fsSL --retry 3 "$sums" | cut -d' ' -f1)
  got=$(sha256 "$dest")
  [[ -n $want && $want == "$got" ]] || die "checksum mismatch for $url (want $want, got $got)"
}

install_tools() {
  platform
  mkdir -p "$TOOLS"
  local tmp
  tmp=$(mktemp -d)
  if [[ ! -x $TOOLS/kind ]]; then
    local kind_url=https://kind.sigs.k8s.io/dl/$KIND_VERSION/kind-$OS-$ARCH
    fetch "$kind_url" "$kind_url.sha256sum" "$tmp/kind"
    install -m 0755 "$tmp/kind" "$TOOLS/kind"
  fi
  if [[ ! -x $TOOLS/kubectl ]]; then
    local kubectl_url=https://dl.k8s.io/release/$KUBECTL_VERSION/bin/$OS/$ARCH/kubectl
    fetch "$kubectl_url" "$kubectl_url.sha256" "$tmp/kubectl"
    install -m 0755 "$tmp/kubectl" "$TOOLS/kubectl"
  fi
  if [[ ! -x $TOOLS/helm ]]; then
    local helm_url=https://get.helm.sh/helm-$HELM_VERSION-$OS-$ARCH.tar.gz
    fetch "$helm_url" "$helm_url.sha256sum" "$tmp/helm.tar.gz"
    tar -xzf "$tmp/helm.tar.gz" -C "$tmp"
    install -m 0755 "$tmp/$OS-$ARCH/helm" "$TOOLS/helm"
  fi
  if [[ ! -x $TOOLS/istioctl ]]; then
    # Istio's release names macOS "osx" (and its amd64 build has no suffix).
    local istio_os=$OS-$ARCH
    case "$OS-$ARCH" in
      darwin-amd64) istio_os=osx ;;
      darwin-arm64) istio_os=osx-arm64 ;;
    esac
    local istio_url=https://github.com/istio/istio/releases/download/$ISTIO_VERSION/istio-$ISTIO_VERSION-$istio_os.tar.gz
    fetch "$istio_url" "$istio_url.sha256" "$tmp/istio.tar.gz"
    # The whole release: istioctl, and samples/addons/prometheus.yaml of the same version.
    rm -rf "$TOOLS/istio"
    mkdir -p "$TOOLS/istio"
    tar -xzf "$tmp/istio.tar.gz" -C "$TOOLS/istio" --strip-components=1
    ln -sf "$TOOLS/istio/bin/istioctl" "$TOOLS/istioctl"
  fi
  rm -rf "$tmp"
  kind version && kubectl version --client && helm version --short && istioctl version --remote=false
}

cluster_down() {
  local clusters=""
  # Read first: `kind ... | grep -q` could fail on SIGPIPE under pipefail.
  if command -v kind >/dev/null; then clusters=$(kind get clusters 2>/dev/null) || true; fi
  if grep -qx "$CLUSTER" <<<"$clusters"; then
    log "deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG"
  fi
}

diagnostics() {
  log "collecting diagnostics in $ARTIFACTS"
  mkdir -p "$ARTIFACTS"
  kubectl get nodes,pods,services,deployments -A -o wide >"$ARTIFACTS/resources.txt" 2>&1
  kubectl get rollouts.meshrollout.dev -A -o yaml >"$ARTIFACTS/rollouts.yaml" 2>&1
  kubectl get virtualservices,destinationrules -A -o yaml >"$ARTIFACTS/mesh.yaml" 2>&1
  kubectl get events -A --sort-by=.lastTimestamp >"$ARTIFACTS/events.txt" 2>&1
  kubectl -n "$CONTROLLER_NS" logs -l app.kubernetes.io/instance=meshrollout --all-containers \
    --prefix --tail=-1 >"$ARTIFACTS/controller.log" 2>&1
  kubectl -n istio-system logs deploy/istiod --tail=1000 >"$ARTIFACTS/istiod.log" 2>&1
  kind export logs "$ARTIFACTS/kind" --name "$CLUSTER" >/dev/null 2>&1
}

on_exit() {
  local status=$?
  trap - EXIT
  set +e
  if ((status != 0)) && [[ -s $KUBECONFIG ]]; then diagnostics; fi
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    log "kept cluster $CLUSTER: export KUBECONFIG=$KUBECONFIG; delete it with: $0 down"
  else
    cluster_down
  fi
  if ((status == 0)); then log "e2e-kind passed"; else log "e2e-kind FAILED (diagnostics: $ARTIFACTS)"; fi
  exit "$status"
}

cluster_up() {
  log "kind cluster $CLUSTER"
  cluster_down
  kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG" --wait 180s
}

build_image() {
  log "controller image $IMAGE from $ROOT, loaded into kind"
  # No attestations: kind loads a plain single-platform image.
  docker build --provenance=false -t "$IMAGE" "$ROOT"
  kind load docker-image "$IMAGE" --name "$CLUSTER"
}

install_istio() {
  log "Istio $ISTIO_VERSION (istioctl, minimal profile, sidecar mode) and its Prometheus addon"
  istioctl install --set profile=minimal -y
  kubectl -n istio-system rollout status deploy/istiod --timeout=300s
  kubectl apply -f "$TOOLS/istio/samples/addons/prometheus.yaml"
  kubectl -n istio-system rollout status deploy/prometheus --timeout=300s
}

install_chart() {
  log "the chart from charts/rollout with image $IMAGE"
  # Only the shop's namespace is watched: the integration suite's own namespaces run
  # controllers of their own and must not meet this one.
  helm install meshrollout "$ROOT/charts/rollout" -n "$CONTROLLER_NS" --create-namespace \
    --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" \
    --set image.pullPolicy=Never --set "watchNamespaces={$SHOP_NS}" \
    --set prometheus.url=http://prometheus.istio-system:9090 \
    --wait --timeout 5m
}

integration_suite() {
  log "the integration suite against the cluster (ROLLOUT_TEST_KUBECONFIG)"
  mkdir -p "$ARTIFACTS"
  (cd "$ROOT" && ROLLOUT_TEST_KUBECONFIG=$KUBECONFIG "$PYTHON" -m pytest tests/integration \
    -q -p no:cacheprovider --junitxml="$ARTIFACTS/integration.xml")
}

rollout() { "$PYTHON" -m rollout -n "$SHOP_NS" "$@"; }

# wait_phase NAME PHASE SECONDS: until the controller has seen the latest spec of NAME and
# put it in PHASE; fail at once on another final phase or a pause (nobody here resumes),
# or when time runs out.
wait_phase() {
  local name=$1 want=$2 deadline=$((SECONDS + $3)) generation now last="" observed phase rest
  generation=$(kubectl -n "$SHOP_NS" get rollouts.meshrollout.dev "$name" -o jsonpath='{.metadata.generation}')
  while ((SECONDS < deadline)); do
    # A read that fails now and then (the API server is busy) is retried, not fatal.
    now=$(kubectl -n "$SHOP_NS" get rollouts.meshrollout.dev "$name" -o \
      jsonpath='{.status.observedGeneration}|{.status.phase}|{.status.canaryWeight}% {.status.message}') ||
      now="||(unread)"
    IFS='|' read -r observed phase rest <<<"$now"
    [[ $observed =~ ^[0-9]+$ ]] || observed=0
    if [[ "$phase $rest" != "$last" ]]; then
      printf '  %s %s\n' "${phase:-Pending}" "$rest" >&2
      last="$phase $rest"
    fi
    if ((observed >= generation)); then
      [[ $phase == "$want" ]] && return 0
      [[ $phase =~ ^(Succeeded|RolledBack|Failed|Paused)$ ]] && die "$name is $phase, expected $want"
    fi
    sleep 5
  done
  die "$name not $want after $3 s"
}

# expect WHAT ACTUAL WANTED
expect() { [[ $2 == "$3" ]] || die "$1: got '$2', expected '$3'"; echo "  ok: $1 = $3" >&2; }

route_subsets() {
  kubectl -n "$SHOP_NS" get virtualservice inventory-route \
    -o jsonpath="{.spec.http[?(@.name==\"$1\")].route[*].destination.subset}"
}

canaries() {
  log "the shop: inventory v1, v2, v3 and a load generator in the mesh"
  kubectl apply -f "$SHOP"
  for deployment in inventory-v1 inventory-v2 inventory-v3 loadgen; do
    kubectl -n "$SHOP_NS" rollout status "deploy/$deployment" --timeout=300s
  done

  log "a healthy canary: v1 -> v2 must succeed"
  rollout start inventory v2 "${FAST[@]}"
  wait_phase inventory Succeeded 600
  expect "primary route after v2 succeeded" "$(route_subsets primary)" v2
  expect "/healthz route (matched: never touched)" "$(route_subsets healthz)" v1

  log "a failing canary: v2 -> v3 (500 on half its requests) must roll back"
  rollout start inventory v3 "${FAST[@]}"
  wait_phase inventory RolledBack 600
  expect "primary route after v3 rolled back" "$(route_subsets primary)" v2
  expect "v3's tightened outlier detection" "$(kubectl -n "$SHOP_NS" get destinationrule \
    inventory-dr -o jsonpath='{.spec.subsets[?(@.name=="v3")].trafficPolicy.outlierDetection.consecutive5xxErrors}')" 1
  rollout history inventory
  [[ -n $(kubectl -n "$SHOP_NS" get events --field-selector involvedObject.kind=Rollout -o name) ]] ||
    die "the controller recorded no Event on the Rollout"

  log "the controller: every replica ready, none restarted"
  kubectl -n "$CONTROLLER_NS" rollout status deploy/meshrollout --timeout=60s
  expect "controller container restarts" "$(kubectl -n "$CONTROLLER_NS" get pods \
    -l app.kubernetes.io/instance=meshrollout \
    -o jsonpath='{range .items[*].status.containerStatuses[*]}{.restartCount}{"\n"}{end}' |
    awk '{total += $1} END {print total + 0}')" 0
}

main() {
  case "${1:-all}" in
    down) platform && cluster_down && return ;;
    all) ;;
    *) die "usage: $0 [all|down]" ;;
  esac
  command -v docker >/dev/null || die "needs Docker"
  [[ -x $PYTHON ]] || die "no Python at $PYTHON: run make first (or set PYTHON)"
  mkdir -p "$WORK"
  trap on_exit EXIT
  install_tools
  cluster_up
  build_image
  install_istio
  install_chart
  integration_suite
  canaries
}

main "$@"
