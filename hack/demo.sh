#!/usr/bin/env bash
# make demo: the operator for real on the local single-node cluster. Starts
# the cluster (hack/dev-cluster.sh, building what is missing), deploys the
# operator, puts the shipped sample table into the file:// store on the node
# (/var/lib/indexbuild, mounted into the pods as hostPath), applies
# config/samples/, follows `kubectl get indexbuilds -w` until both builds end,
# and queries the committed indexes. Each run rebuilds the samples from
# scratch; the cluster, binaries and images are reused.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STORE=/var/lib/indexbuild # the samples' source and output URIs point here
TIMEOUT="${DEMO_TIMEOUT:-300}"
SAMPLES=(books-index books-fulltext)

step() { printf '\n== %s\n' "$*"; }

KUBECONFIG="$("${ROOT}/hack/dev-cluster.sh" kubeconfig)"
export KUBECONFIG
IB="${ROOT}/bin/linux/indexbuild" # built for the image by dev-cluster.sh; runs here too

hints() {
  echo
  echo "demo: $1" >&2
  echo "demo: look at (KUBECONFIG=${KUBECONFIG}):" >&2
  echo "  kubectl get indexbuilds; kubectl describe indexbuild NAME" >&2
  echo "  kubectl get jobs,pods -l indexbuild.dev/name=NAME" >&2
  echo "  kubectl logs -l indexbuild.dev/name=NAME --prefix --tail=50" >&2
  echo "  kubectl -n indexbuild-system logs deploy/indexbuild-controller-manager" >&2
  echo "  cluster logs: ${ROOT}/.dev/cluster/logs/" >&2
  exit 1
}

step "local cluster and operator (make dev-cluster, make deploy IMG=indexbuild:dev)"
"${ROOT}/hack/dev-cluster.sh" deploy || hints "starting the cluster or deploying the operator failed"

step "sample table -> file://${STORE}/tables/books"
kubectl delete -k "${ROOT}/config/samples/" --ignore-not-found --wait=true >/dev/null
rm -rf "${STORE}/tables/books" "${STORE}/indexes/books-index" "${STORE}/indexes/books-fulltext"
mkdir -p "${STORE}/tables" "${STORE}/indexes"
cp -r "${ROOT}/hack/sample-data/books" "${STORE}/tables/books"

step "kubectl apply -k config/samples/"
kubectl apply -k "${ROOT}/config/samples/"

step "kubectl get indexbuilds -w (until both builds end)"
kubectl get indexbuilds -w &
watch_pid=$!
trap 'kill ${watch_pid} 2>/dev/null || true' EXIT
deadline=$((SECONDS + TIMEOUT))
while :; do
  phases="$(kubectl get indexbuilds "${SAMPLES[@]}" -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}')"
  if ! grep -qvE '^(Succeeded|Failed)$' <<<"${phases}" && [ "$(grep -c . <<<"${phases}")" -eq ${#SAMPLES[@]} ]; then
    break
  fi
  [ ${SECONDS} -lt ${deadline} ] || { kill ${watch_pid} 2>/dev/null; hints "the builds did not end within ${TIMEOUT}s"; }
  sleep 1
done
sleep 1 # let the watch print the last transition
kill ${watch_pid} 2>/dev/null || true
wait ${watch_pid} 2>/dev/null || true
echo
kubectl get indexbuilds "${SAMPLES[@]}"
for name in "${SAMPLES[@]}"; do
  if [ "$(kubectl get indexbuild "${name}" -o jsonpath='{.status.phase}')" != Succeeded ]; then
    kubectl get indexbuild "${name}" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2
    hints "${name} failed"
  fi
  echo "${name}: committed $(kubectl get indexbuild "${name}" -o jsonpath='{.status.commit.files} files, {.status.commit.rows} rows at {.status.commit.markerURI}')"
done

step "query books-index: books from 2000 to 2002 (element 1, idx_year)"
"${IB}" query --index="file://${STORE}/indexes/books-index" --element=1 --range 2000 2002 || hints "the range query failed"
step "query books-fulltext: 'garden river' (element 5, ft_description), best 5"
"${IB}" query --index="file://${STORE}/indexes/books-fulltext" --element=5 --match "garden river" --limit=5 || hints "the match query failed"

step "done. The cluster keeps running: export KUBECONFIG=${KUBECONFIG}; make dev-cluster-down stops it."
