# IndexBuild operator. `make help` lists the targets.

IMG ?= indexbuild:dev
K8S_VERSION ?= 1.37.0
CONTROLLER_TOOLS_VERSION ?= v0.23.0

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
ENVTEST_DIR ?= $(LOCALBIN)/k8s/$(K8S_VERSION)
GO_TEST_FLAGS ?=

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: demo
demo: ## Start the local cluster, deploy the operator, build the sample IndexBuilds and query the result.
	hack/demo.sh

.PHONY: demo-local
demo-local: ## The data plane alone, no cluster: workers, finalize, verify and query on a file:// store.
	hack/demo-local.sh

.PHONY: dev-cluster
dev-cluster: ## Start the local single-node cluster (docs/dev-cluster.md); prints its kubeconfig.
	hack/dev-cluster.sh up

.PHONY: dev-cluster-down
dev-cluster-down: ## Stop the local cluster and remove its state (.dev/cluster).
	hack/dev-cluster.sh down

.PHONY: dev-deploy
dev-deploy: ## Rebuild and import the image into the local cluster and (re)deploy the operator there.
	hack/dev-cluster.sh deploy

.PHONY: test-e2e
test-e2e: k8s-binaries ## End-to-end tests on the local cluster (started, and torn down unless E2E_KEEP_CLUSTER=1).
	go test -tags e2e ./test/e2e/ -v -count=1 -timeout 60m -ginkgo.v $(E2E_FLAGS)

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests from the code markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## go fmt
	go fmt ./...

.PHONY: vet
vet: ## go vet
	go vet ./...

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when generated files are not what the code says.
	@git diff --exit-code -- config/ api/ || { echo "generated files are stale: run 'make manifests generate' and commit"; exit 1; }

.PHONY: test
test: manifests generate vet envtest s3-server ## Unit, envtest and S3 integration tests (builds the test servers when missing).
	KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" INDEXBUILD_S3_SERVER="$(LOCALBIN)/versitygw" go test $(GO_TEST_FLAGS) ./... -coverprofile cover.out

.PHONY: bench
bench: ## Benchmarks, printed as a table.
	go test -run '^$$' -bench . -benchmem ./internal/... | tee bench.out

##@ Build

.PHONY: build
build: manifests generate vet ## Build the manager and the data-plane binary.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/indexbuild ./cmd/indexbuild

.PHONY: run
run: manifests generate ## Run the manager against the current kubeconfig.
	go run ./cmd/manager

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD into the current cluster.
	kubectl apply -k config/crd

.PHONY: uninstall
uninstall: manifests ## Remove the CRD from the current cluster.
	kubectl delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests ## Deploy the operator (config/default) with image $(IMG).
	kubectl kustomize config/default | sed 's|controller:latest|$(IMG)|g' | kubectl apply -f -

.PHONY: undeploy
undeploy: ## Remove the operator.
	kubectl kustomize config/default | kubectl delete --ignore-not-found -f -

##@ Dependencies

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd from upstream sources into bin/k8s/$(K8S_VERSION).
	K8S_VERSION=$(K8S_VERSION) hack/build-k8s.sh etcd kube-apiserver

.PHONY: k8s-binaries
k8s-binaries: ## Build all the local cluster's Kubernetes binaries and etcd into bin/k8s/$(K8S_VERSION).
	K8S_VERSION=$(K8S_VERSION) hack/build-k8s.sh etcd kube-apiserver kube-controller-manager kube-scheduler kubelet

.PHONY: s3-server
s3-server: ## Build the S3-compatible test server (versitygw) into bin/ from the Go module proxy.
	hack/build-s3-server.sh

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen (pinned) into bin/.
$(CONTROLLER_GEN):
	mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)
