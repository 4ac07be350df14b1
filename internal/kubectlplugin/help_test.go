package kubectlplugin

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestHelpExitsZero: every command's -h and --help print its flags and exit
// 0 without connecting to a cluster.
func TestHelpExitsZero(t *testing.T) {
	for name := range commands {
		for _, flag := range []string{"-h", "--help"} {
			t.Run(name+flag, func(t *testing.T) {
				var out, errOut strings.Builder
				p := &Plugin{Out: &out, Err: &errOut, Connect: func(KubeFlags) (*Clients, error) {
					return nil, errors.New("help must not connect")
				}}
				if code := p.Run(context.Background(), []string{name, flag}); code != 0 {
					t.Fatalf("kubectl indexbuild %s %s exited %d:\n%s", name, flag, code, errOut.String())
				}
				if !strings.Contains(errOut.String(), "--namespace") {
					t.Fatalf("kubectl indexbuild %s %s printed no flags:\n%s", name, flag, errOut.String())
				}
			})
		}
	}
}
