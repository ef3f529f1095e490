#!/usr/bin/env bash
# Builds the local cluster's tools from the Go module proxy into .cache/bin:
# etcd, kube-apiserver, kube-controller-manager and kubectl (cluster/k8s) and
# helm (cluster/helm). A stamp of the pins makes a warm run a no-op; any change
# to a go.mod, go.sum, etcd's main or this script rebuilds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${DEPLOYMENTGATE_BIN:-$root/.cache/bin}
mkdir -p "$out"

stamp=$(cat "$here"/k8s/go.mod "$here"/k8s/go.sum "$here"/k8s/etcd/main.go \
  "$here"/helm/go.mod "$here"/helm/go.sum "$0" | sha256sum | cut -c1-16)
tools="etcd kube-apiserver kube-controller-manager kubectl helm"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  ok=1
  for t in $tools; do [ -x "$out/$t" ] || ok=0; done
  if [ $ok = 1 ]; then echo "cluster tools up to date in $out"; exit 0; fi
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
