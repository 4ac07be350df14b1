#!/usr/bin/env bash
# A local single-node Kubernetes for the demo and the e2e tests: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and kubelet built
# from upstream sources (hack/build-k8s.sh), containerd + runc + CNI plugins
# from Debian's packages. Control-plane ports are on 127.0.0.1; pods get a
# CNI bridge (ibr0, 10.88.0.0/16) and reach the apiserver through the
# `kubernetes` Service IP, which one DNAT rule maps to 127.0.0.1:6443 (there
# is no kube-proxy). State lives under .dev/cluster/. docs/dev-cluster.md has
# the details.
#
# usage: hack/dev-cluster.sh up|down|status|images|deploy|kubeconfig
#   up          build what is missing, start everything, import the images,
#               wait for the node to be Ready (idempotent: a running cluster
#               is left as it is, the images are refreshed)
#   down        stop everything this script started and remove .dev/cluster
#   status      exit 0 when the cluster answers
#   images      rebuild and import the project image (cluster must be up)
#   deploy      up, then make deploy IMG=$IMG into this cluster and wait for
#               the operator
#   kubeconfig  print the kubeconfig path
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S_VERSION="${K8S_VERSION:-1.37.0}"
K8S_BIN="${ROOT}/bin/k8s/${K8S_VERSION}"
DEV="${ROOT}/.dev/cluster"
PKI="${DEV}/pki"
LOGS="${DEV}/logs"
RUN="${DEV}/run"
KUBECONFIG_OUT="${DEV}/kubeconfig"
CONTAINERD_SOCK="${RUN}/containerd.sock"
NODE_NAME="indexbuild-dev"
IMG="${IMG:-indexbuild:dev}"
PAUSE_IMAGE="localhost/indexbuild-pause:v1"

# Ports and addresses (docs/dev-cluster.md).
ETCD_PORT=23790
ETCD_PEER_PORT=23800
APISERVER_PORT=6443
BRIDGE=ibr0
POD_CIDR=10.88.0.0/16
NODE_IP=10.88.0.1          # the bridge's own address: the kubelet may not use a loopback node IP
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
NAT_CHAIN=INDEXBUILD-DEV

log() { echo "dev-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

ctr_() { ctr --address "${CONTAINERD_SOCK}" -n k8s.io "$@"; }
kubectl_() { kubectl --kubeconfig "${KUBECONFIG_OUT}" "$@"; }

# ---------------------------------------------------------------- packages

ensure_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  command -v ip >/dev/null || missing+=(iproute2)
  [ ${#missing[@]} -eq 0 ] && return
  log "installing ${missing[*]} from Debian"
  [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package starts a system containerd where systemd runs; this cluster
  # runs its own, with its own socket, so that one is not needed.
}

# ---------------------------------------------------------------- PKI

# cert NAME CN ORG [SAN]: a client or serving certificate signed by the cluster CA.
cert() {
  local name=$1 cn=$2 org=$3 san=${4:-}
  [ -f "${PKI}/${name}.crt" ] && return
  local ext="${PKI}/${name}.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "${san}" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=${san}"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } > "${ext}"
  local subj="/CN=${cn}"
  [ -n "${org}" ] && subj="/O=${org}${subj}"
  openssl req -new -newkey rsa:2048 -nodes -keyout "${PKI}/${name}.key" -subj "${subj}" \
    -out "${PKI}/${name}.csr" 2>/dev/null
  openssl x509 -req -in "${PKI}/${name}.csr" -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" -CAcreateserial \
    -days 3650 -extfile "${ext}" -out "${PKI}/${name}.crt" 2>/dev/null
  rm -f "${PKI}/${name}.csr" "${ext}"
}

# kubeconfig FILE CERT_NAME: a kubeconfig for 127.0.0.1 with that client certificate.
kubeconfig() {
  local file=$1 name=$2
  cat > "${file}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: indexbuild-dev
  cluster:
    server: https://127.0.0.1:${APISERVER_PORT}
    certificate-authority: ${PKI}/ca.crt
users:
- name: ${name}
  user:
    client-certificate: ${PKI}/${name}.crt
    client-key: ${PKI}/${name}.key
contexts:
- name: indexbuild-dev
  context: {cluster: indexbuild-dev, user: ${name}}
current-context: indexbuild-dev
EOF
}

make_pki() {
  mkdir -p "${PKI}"
  if [ ! -f "${PKI}/ca.crt" ]; then
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "${PKI}/ca.key" -subj "/CN=indexbuild-dev-ca" \
      -days 3650 -out "${PKI}/ca.crt" 2>/dev/null
  fi
  [ -f "${PKI}/sa.key" ] || {
    openssl genrsa -out "${PKI}/sa.key" 2048 2>/dev/null
    openssl rsa -in "${PKI}/sa.key" -pubout -out "${PKI}/sa.pub" 2>/dev/null
  }
  # Pods reach the apiserver as https://10.96.0.1 (in-cluster config), we as 127.0.0.1.
  cert apiserver kube-apiserver "" \
    "IP:127.0.0.1,IP:${KUBERNETES_SVC_IP},IP:${NODE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert kubelet-server "system:node:${NODE_NAME}" system:nodes "IP:${NODE_IP},IP:127.0.0.1,DNS:${NODE_NAME}"
  cert admin kubernetes-admin system:masters
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert controller-manager system:kube-controller-manager ""
  cert scheduler system:kube-scheduler ""
  cert kubelet "system:node:${NODE_NAME}" system:nodes
  kubeconfig "${KUBECONFIG_OUT}" admin
  kubeconfig "${DEV}/controller-manager.kubeconfig" controller-manager
  kubeconfig "${DEV}/scheduler.kubeconfig" scheduler
  kubeconfig "${DEV}/kubelet.kubeconfig" kubelet
}

# ---------------------------------------------------------------- processes

pidfile() { echo "${RUN}/$1.pid"; }

running() {
  local pf
  pf="$(pidfile "$1")"
  [ -f "${pf}" ] && kill -0 "$(cat "${pf}")" 2>/dev/null
}

# start NAME CMD...: runs CMD in the background, output to logs/NAME.log.
start() {
  local name=$1; shift
  if running "${name}"; then return; fi
  log "starting ${name} (log: ${LOGS}/${name}.log)"
  # setsid: the component outlives the make/shell that started it.
  setsid "$@" >>"${LOGS}/${name}.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "${name}")"
}

# wait_for NAME SECONDS CMD...: polls CMD until it succeeds; on timeout shows the log.
wait_for() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! running "${name}"; then
      tail -n 30 "${LOGS}/${name}.log" >&2 || true
      die "${name} exited; its log is ${LOGS}/${name}.log"
    fi
    if [ ${SECONDS} -ge ${deadline} ]; then
      tail -n 30 "${LOGS}/${name}.log" >&2 || true
      die "${name} not ready after ${timeout}s; its log is ${LOGS}/${name}.log"
    fi
    sleep 1
  done
}

stop() {
  local name=$1 pf pid
  pf="$(pidfile "${name}")"
  [ -f "${pf}" ] || return 0
  pid="$(cat "${pf}")"
  if kill -0 "${pid}" 2>/dev/null; then
    log "stopping ${name} (pid ${pid})"
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.5; done
    kill -9 "${pid}" 2>/dev/null || true
  fi
  rm -f "${pf}"
}

# ---------------------------------------------------------------- network

setup_network() {
  if ! ip link show "${BRIDGE}" >/dev/null 2>&1; then
    ip link add "${BRIDGE}" type bridge
  fi
  ip addr replace "${NODE_IP}/16" dev "${BRIDGE}"
  ip link set "${BRIDGE}" up
  # Packets from pods to the Service IP are rewritten to the apiserver on
  # 127.0.0.1, which the kernel only routes from a bridge with route_localnet.
  sysctl -qw "net.ipv4.conf.${BRIDGE}.route_localnet=1"
  iptables -t nat -N "${NAT_CHAIN}" 2>/dev/null || iptables -t nat -F "${NAT_CHAIN}"
  iptables -t nat -A "${NAT_CHAIN}" -d "${KUBERNETES_SVC_IP}/32" -p tcp --dport 443 \
    -j DNAT --to-destination "127.0.0.1:${APISERVER_PORT}"
  iptables -t nat -C PREROUTING -i "${BRIDGE}" -j "${NAT_CHAIN}" 2>/dev/null ||
    iptables -t nat -A PREROUTING -i "${BRIDGE}" -j "${NAT_CHAIN}"

  mkdir -p "${DEV}/cni/net.d"
  cat > "${DEV}/cni/net.d/10-indexbuild-dev.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "indexbuild-dev",
  "plugins": [{
    "type": "bridge",
    "bridge": "${BRIDGE}",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "dataDir": "${DEV}/cni/ipam",
      "ranges": [[{"subnet": "${POD_CIDR}", "gateway": "${NODE_IP}"}]],
      "routes": [{"dst": "0.0.0.0/0"}]
    }
  }]
}
EOF
}

teardown_network() {
  iptables -t nat -D PREROUTING -i "${BRIDGE}" -j "${NAT_CHAIN}" 2>/dev/null || true
  iptables -t nat -F "${NAT_CHAIN}" 2>/dev/null || true
  iptables -t nat -X "${NAT_CHAIN}" 2>/dev/null || true
  ip link del "${BRIDGE}" 2>/dev/null || true
  # The kubelet's canary chains (it checks with them whether iptables was flushed).
  for t in mangle nat filter; do
    iptables -t "${t}" -F KUBE-KUBELET-CANARY 2>/dev/null && iptables -t "${t}" -X KUBE-KUBELET-CANARY 2>/dev/null || true
    ip6tables -t "${t}" -F KUBE-KUBELET-CANARY 2>/dev/null && ip6tables -t "${t}" -X KUBE-KUBELET-CANARY 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- components

start_containerd() {
  mkdir -p "${DEV}/containerd"
  cat > "${DEV}/containerd/config.toml" <<EOF
version = 2
root = "${DEV}/containerd/root"
state = "${DEV}/containerd/state"
[grpc]
  address = "${CONTAINERD_SOCK}"
[plugins."io.containerd.grpc.v1.cri"]
  # The upstream pause image cannot be pulled here; hack/pause is built and
  # imported under this name.
  sandbox_image = "${PAUSE_IMAGE}"
  # Lowering oom_score_adj is denied in this kind of sandbox.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${DEV}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
EOF
  start containerd containerd --config "${DEV}/containerd/config.toml"
  wait_for containerd 60 ctr --address "${CONTAINERD_SOCK}" version
}

start_control_plane() {
  start etcd "${K8S_BIN}/etcd" --name "${NODE_NAME}" --data-dir "${DEV}/etcd" \
    --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster "${NODE_NAME}=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --unsafe-no-fsync # a throwaway cluster: fsync only slows it down
  wait_for etcd 60 curl -fsS "http://127.0.0.1:${ETCD_PORT}/health"

  # The node's name does not resolve: logs and exec reach the kubelet by its
  # InternalIP (--kubelet-preferred-address-types).
  start kube-apiserver "${K8S_BIN}/kube-apiserver" \
    --bind-address=127.0.0.1 --secure-port="${APISERVER_PORT}" --advertise-address="${NODE_IP}" \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --tls-cert-file="${PKI}/apiserver.crt" --tls-private-key-file="${PKI}/apiserver.key" \
    --client-ca-file="${PKI}/ca.crt" \
    --kubelet-client-certificate="${PKI}/apiserver-kubelet-client.crt" \
    --kubelet-client-key="${PKI}/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="${PKI}/sa.pub" --service-account-signing-key-file="${PKI}/sa.key" \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --enable-admission-plugins=NodeRestriction \
    --profiling=false
  wait_for kube-apiserver 120 kubectl_ get --raw /readyz

  start kube-controller-manager "${K8S_BIN}/kube-controller-manager" \
    --kubeconfig="${DEV}/controller-manager.kubeconfig" \
    --authentication-kubeconfig="${DEV}/controller-manager.kubeconfig" \
    --authorization-kubeconfig="${DEV}/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="${PKI}/sa.key" --root-ca-file="${PKI}/ca.crt" \
    --service-cluster-ip-range="${SERVICE_CIDR}" \
    --controllers='*,-nodeipam'
  start kube-scheduler "${K8S_BIN}/kube-scheduler" \
    --kubeconfig="${DEV}/scheduler.kubeconfig" \
    --authentication-kubeconfig="${DEV}/scheduler.kubeconfig" \
    --authorization-kubeconfig="${DEV}/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false
  wait_for kube-controller-manager 60 curl -fsSk https://127.0.0.1:10257/healthz
  wait_for kube-scheduler 60 curl -fsSk https://127.0.0.1:10259/healthz
}

start_kubelet() {
  mkdir -p "${DEV}/kubelet"
  cat > "${DEV}/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# These machines run a cgroup v1 hierarchy; the kubelet refuses it by default.
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}
address: ${NODE_IP}
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
tlsCertFile: ${PKI}/kubelet-server.crt
tlsPrivateKeyFile: ${PKI}/kubelet-server.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${PKI}/ca.crt}
authorization: {mode: Webhook}
# The disk is shared with builds and other work: do not evict on it.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
resolvConf: /etc/resolv.conf
EOF
  start kubelet "${K8S_BIN}/kubelet" \
    --config="${DEV}/kubelet/config.yaml" --kubeconfig="${DEV}/kubelet.kubeconfig" \
    --root-dir="${DEV}/kubelet/root" --cert-dir="${DEV}/kubelet/pki" \
    --hostname-override="${NODE_NAME}" --node-ip="${NODE_IP}"
  log "waiting for node ${NODE_NAME} to be Ready"
  wait_for kubelet 120 kubectl_ get node "${NODE_NAME}"
  kubectl_ wait --for=condition=Ready "node/${NODE_NAME}" --timeout=120s >/dev/null ||
    { tail -n 30 "${LOGS}/kubelet.log" >&2; die "node not Ready; see ${LOGS}/kubelet.log and 'kubectl describe node ${NODE_NAME}'"; }
}

# ---------------------------------------------------------------- images

# import_archive ARCHIVE: an unchanged image (same digests) imports as a no-op.
import_archive() {
  ctr_ images import "$1" >/dev/null
}

build_images() {
  local out="${ROOT}/dist/images" linux="${ROOT}/bin/linux" arch
  arch="$(go env GOARCH)" # the node's architecture: the images run here
  mkdir -p "${out}" "${linux}"
  log "building the images (${IMG}, ${PAUSE_IMAGE})"
  (
    cd "${ROOT}"
    export CGO_ENABLED=0 GOOS=linux GOARCH="${arch}"
    go build -trimpath -ldflags=-s -o "${linux}/manager" ./cmd/manager
    go build -trimpath -ldflags=-s -o "${linux}/indexbuild" ./cmd/indexbuild
    go build -trimpath -ldflags=-s -o "${linux}/pause" ./hack/pause
  )
  local ociimage=(go run "${ROOT}/hack/ociimage" -arch "${arch}")
  (cd "${ROOT}" && "${ociimage[@]}" -o "${out}/pause.tar" -name "${PAUSE_IMAGE}" -entrypoint /pause -user 65535 \
    "/pause=${linux}/pause") >/dev/null
  # One image for the manager and the data plane: its entrypoint is the data
  # plane (workers and finalize get only arguments), the manager's Deployment
  # runs /manager as a non-root user. Workers run as root so they can write to
  # the hostPath directories the kubelet creates for file:// stores.
  local files=("/manager=${linux}/manager" "/indexbuild=${linux}/indexbuild")
  [ -f /etc/ssl/certs/ca-certificates.crt ] && files+=("/etc/ssl/certs/ca-certificates.crt=/etc/ssl/certs/ca-certificates.crt")
  (cd "${ROOT}" && "${ociimage[@]}" -o "${out}/indexbuild.tar" -name "$(full_ref "${IMG}")" -entrypoint /indexbuild \
    "${files[@]}") >/dev/null
}

# full_ref REF: the name containerd and the kubelet use for a short reference.
full_ref() {
  local ref=$1 first=${1%%/*}
  if [[ "${ref}" != */* ]]; then
    echo "docker.io/library/${ref}"
  elif [[ "${first}" == *.* || "${first}" == *:* || "${first}" == localhost ]]; then
    echo "${ref}"
  else
    echo "docker.io/${ref}"
  fi
}

import_images() {
  build_images
  import_archive "${ROOT}/dist/images/pause.tar"
  import_archive "${ROOT}/dist/images/indexbuild.tar"
  log "imported ${PAUSE_IMAGE} and $(full_ref "${IMG}")"
}

# storage_class: the StorageClass of hostPath-backed PersistentVolumes for
# file:// stores on claims (docs/dev-cluster.md). Nothing provisions them:
# an admin (or the e2e specs) creates a PV with a hostPath under
# /var/lib/indexbuild/volumes, writable by the pods' user 65532.
storage_class() {
  kubectl_ apply -f - >/dev/null <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: indexbuild-hostpath
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
YAML
}

# ---------------------------------------------------------------- commands

up() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (containerd, the kubelet and the bridge need it)"
  ensure_packages
  K8S_VERSION="${K8S_VERSION}" "${ROOT}/hack/build-k8s.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kubelet >/dev/null
  mkdir -p "${DEV}" "${LOGS}" "${RUN}"
  make_pki
  setup_network
  start_containerd
  import_images
  start_control_plane
  start_kubelet
  storage_class
  log "cluster is up; kubeconfig: ${KUBECONFIG_OUT}"
  echo "${KUBECONFIG_OUT}"
}

down() {
  [ -d "${DEV}" ] || { log "no cluster under ${DEV}"; return; }
  stop kubelet
  # Containers first, through containerd, which also ends their shims. After
  # a crash containerd is started again for that: it reconnects to the shims.
  if [ -f "${DEV}/containerd/config.toml" ]; then
    mkdir -p "${LOGS}" "${RUN}"
    (start_containerd) || log "containerd did not start: containers may be left running"
    local tasks
    tasks="$(ctr_ tasks ls -q 2>/dev/null || true)"
    for id in ${tasks}; do ctr_ tasks kill -s SIGKILL "${id}" >/dev/null 2>&1 || true; done
    sleep 1
    for id in ${tasks}; do ctr_ tasks delete -f "${id}" >/dev/null 2>&1 || true; done
  fi
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  stop containerd
  # Volumes (tokens on tmpfs) and container root filesystems are mounts;
  # unmount them before removing the directory, deepest first.
  awk -v dev="${DEV}/" 'index($2, dev) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount -l "${m}" 2>/dev/null || true
  done
  teardown_network
  rm -rf "${DEV}"
  log "cluster removed"
}

# deploy: make deploy with the image up() imported, then restart the manager when
# the image's content changed (the tag stays the same, so the Deployment
# alone would not notice).
deploy() {
  up >/dev/null
  local digest
  digest="$(ctr_ images ls "name==$(full_ref "${IMG}")" | awk 'NR == 2 {print $3}')"
  KUBECONFIG="${KUBECONFIG_OUT}" make -C "${ROOT}" --no-print-directory deploy IMG="${IMG}" >/dev/null
  kubectl_ -n indexbuild-system patch deployment indexbuild-controller-manager --type=merge \
    -p "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"indexbuild.dev/image-digest\":\"${digest}\"}}}}}" >/dev/null
  # The local cluster lets file:// stores be hostPaths under /var/lib/indexbuild
  # (config/default allows none), and its builds choose any builder image,
  # command, service account and Secret (config/default allows none of it).
  kubectl_ -n indexbuild-system set env deployment/indexbuild-controller-manager \
    INDEXBUILD_FILE_STORE_ROOTS=/var/lib/indexbuild \
    'INDEXBUILD_ALLOWED_BUILDER_IMAGES=*' INDEXBUILD_ALLOW_BUILDER_COMMAND=true \
    'INDEXBUILD_ALLOWED_SERVICE_ACCOUNTS=*' INDEXBUILD_SECRET_OPT_IN_LABEL= >/dev/null
  log "waiting for the operator to roll out"
  kubectl_ -n indexbuild-system rollout status deployment/indexbuild-controller-manager --timeout=180s >&2 || {
    log "the operator did not become ready; look at:"
    log "  kubectl --kubeconfig ${KUBECONFIG_OUT} -n indexbuild-system describe pods"
    log "  kubectl --kubeconfig ${KUBECONFIG_OUT} -n indexbuild-system logs deploy/indexbuild-controller-manager"
    exit 1
  }
  # The rollout is done once the new manager is ready, while the old one may
  # still reconcile with the old settings until it has stopped: wait for it
  # to be gone, so nothing built next meets the old settings.
  local i
  for i in $(seq 1 90); do
    [ "$(kubectl_ -n indexbuild-system get pods -l app.kubernetes.io/name=indexbuild,app.kubernetes.io/component=manager --no-headers 2>/dev/null | wc -l)" = 1 ] && return 0
    sleep 2
  done
  log "an old manager pod did not go within 180 s"
  exit 1
}

status() {
  [ -f "${KUBECONFIG_OUT}" ] && running kube-apiserver && running kubelet &&
    kubectl_ get --raw /readyz >/dev/null 2>&1
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  images) import_images ;;
  deploy) deploy ;;
  kubeconfig) echo "${KUBECONFIG_OUT}" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
