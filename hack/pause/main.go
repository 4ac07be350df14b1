// Command pause is the pod sandbox ("pause") container of the local dev
// cluster (hack/dev-cluster.sh): it holds the pod's namespaces open and exits
// when it is told to stop. The upstream image cannot be pulled here, so the
// cluster builds and imports this one under the name containerd is configured
// with.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
