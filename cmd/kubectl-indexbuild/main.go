// Command kubectl-indexbuild is the kubectl plugin for IndexBuilds: on the
// PATH, `kubectl indexbuild status|watch|logs|retry|query NAME` runs it.
// See docs/kubectl-plugin.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/indexbuild/indexbuild/internal/kubectlplugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	p := &kubectlplugin.Plugin{Out: os.Stdout, Err: os.Stderr, Redraw: kubectlplugin.IsTerminal(os.Stdout)}
	code := p.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
