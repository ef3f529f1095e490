#!/usr/bin/env bash
# Builds the local cluster's tools from the Go module proxy into .cache/bin, by
# group:
#   cluster  etcd, kube-apiserver, kube-controller-manager and kubectl
#            (cluster/k8s) and helm (cluster/helm): every local cluster needs them.
#   traefik  traefik, the sandbox's Gateway API implementation (cluster/traefik),
#            which only `demo --router gatewayAPI` and the Gateway API tests use;
#            it also copies the Gateway API CRDs (standard channel) of the version
#            Traefik was built against from the module cache into
#            cluster/traefik/crds.
#   gitops   gitops-check (cluster/gitops-check): Argo CD's Lua interpreter and Flux's
#            kstatus, which only the GitOps tests use.
# Usage: cluster/build.sh [cluster] [gitops] [traefik]   (no group: all three)
# A stamp per group makes a warm run a no-op; any change to a group's go.mod,
# go.sum, sources or this script rebuilds that group.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${DEPLOYMENTGATE_BIN:-$root/.cache/bin}
mkdir -p "$out"

# up_to_date STAMPFILE STAMP TOOL...: the stamp matches and every tool is there.
up_to_date() {
  local file=$1 stamp=$2 t
  shift 2
  [ -f "$out/$file" ] && [ "$(cat "$out/$file")" = "$stamp" ] || return 1
  for t in "$@"; do [ -x "$out/$t" ] || return 1; done
}

build_traefik() {
  local stamp start version gwapi dir
  stamp=$(cat "$here"/traefik/go.mod "$here"/traefik/go.sum "$here"/traefik/ext/* "$0" \
    | sha256sum | cut -c1-16)
  if up_to_date .stamp-traefik "$stamp" traefik && [ -f "$here/traefik/crds/VERSION" ]; then
    echo "traefik up to date in $out"
    return
  fi
  start=$(date +%s)
  version=$(awk '$1 == "github.com/traefik/traefik/v3" {print $2; exit}' "$here/traefik/go.mod")
  gwapi=$(awk '$1 == "sigs.k8s.io/gateway-api" {print $2; exit}' "$here/traefik/go.mod")
  echo "building traefik ($version) ..."
  (cd "$here/traefik" && go build -trimpath \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$version" \
    -o "$out/" github.com/traefik/traefik/v3/cmd/traefik)
  echo "copying Gateway API $gwapi CRDs (standard channel) ..."
  dir=$(cd "$here/traefik" && go mod download -json "sigs.k8s.io/gateway-api@$gwapi" \
    | awk -F'"' '$2 == "Dir" {print $4}')
  rm -rf "$here/traefik/crds"
  mkdir -p "$here/traefik/crds"
  # Only the CustomResourceDefinitions: the channel's admission policy is not needed.
  grep -l '^kind: CustomResourceDefinition' "$dir"/config/crd/standard/*.yaml \
    | xargs -I{} cp {} "$here/traefik/crds/"
  chmod 644 "$here"/traefik/crds/*.yaml
  echo "$gwapi" > "$here/traefik/crds/VERSION"
  echo "$stamp" > "$out/.stamp-traefik"
  echo "traefik built in $(( $(date +%s) - start ))s into $out"
}

# gitops-check: Argo CD's Lua interpreter and Flux's kstatus, for the GitOps tests.
build_gitops() {
  local stamp start
  stamp=$(cat "$here"/gitops-check/go.mod "$here"/gitops-check/go.sum "$here"/gitops-check/*.go "$0" \
    | sha256sum | cut -c1-16)
  if up_to_date .stamp-gitops "$stamp" gitops-check; then
    echo "gitops-check up to date in $out"
    return
  fi
  start=$(date +%s)
  echo "building gitops-check ..."
  (cd "$here/gitops-check" && go build -trimpath -ldflags "-s -w" -o "$out/" \
    deploymentgate.dev/cluster/gitops-check)
  echo "$stamp" > "$out/.stamp-gitops"
  echo "gitops-check built in $(( $(date +%s) - start ))s into $out"
}

build_cluster() {
  local stamp k8s_version pkg ldflags start
  stamp=$(cat "$here"/k8s/go.mod "$here"/k8s/go.sum "$here"/k8s/etcd/main.go \
    "$here"/helm/go.mod "$here"/helm/go.sum "$0" | sha256sum | cut -c1-16)
  if up_to_date .stamp "$stamp" etcd kube-apiserver kube-controller-manager kubectl helm; then
    echo "cluster tools up to date in $out"
    return
  fi

  k8s_version=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$here/k8s/go.mod")
  pkg=k8s.io/component-base/version
  ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitTreeState=clean"
  ldflags="$ldflags -X $pkg.gitMajor=$(echo "$k8s_version" | cut -d. -f1 | tr -d v)"
  ldflags="$ldflags -X $pkg.gitMinor=$(echo "$k8s_version" | cut -d. -f2)"

  start=$(date +%s)
  echo "building etcd, kube-apiserver, kube-controller-manager, kubectl ($k8s_version) ..."
  (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl ./etcd)
  echo "building helm ..."
  (cd "$here/helm" && go build -trimpath -ldflags "-s -w" -o "$out/" helm.sh/helm/v3/cmd/helm)
  echo "$stamp" > "$out/.stamp"
  echo "cluster tools built in $(( $(date +%s) - start ))s into $out"
}

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(cluster gitops traefik)
for group in "${groups[@]}"; do
  case $group in
    cluster | gitops | traefik) ;;
    *) echo "usage: $0 [cluster] [gitops] [traefik] (no group: all); unknown group: $group" >&2; exit 2 ;;
  esac
done
for group in "${groups[@]}"; do
  "build_$group"
done
