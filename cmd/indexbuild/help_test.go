package main

import (
	"context"
	"strings"
	"testing"
)

// TestHelpExitsZero: every subcommand's -h and --help print its usage and
// exit 0, as a script checking `indexbuild build --help` expects.
func TestHelpExitsZero(t *testing.T) {
	if len(subcommands) == 0 {
		t.Fatal("no subcommands registered")
	}
	for name := range subcommands {
		for _, flag := range []string{"-h", "--help"} {
			t.Run(name+flag, func(t *testing.T) {
				var stdout, stderr strings.Builder
				code := run(context.Background(), []string{name, flag}, &stdout, &stderr)
				if code != 0 {
					t.Fatalf("indexbuild %s %s exited %d; stderr:\n%s", name, flag, code, stderr.String())
				}
				if !strings.Contains(stderr.String(), "Usage of "+name) || strings.Contains(stderr.String(), "invalid input") {
					t.Fatalf("indexbuild %s %s printed:\n%s", name, flag, stderr.String())
				}
			})
		}
	}
	var stderr strings.Builder
	if code := run(context.Background(), []string{"--help"}, &strings.Builder{}, &stderr); code != 0 || !strings.Contains(stderr.String(), "usage: indexbuild") {
		t.Fatalf("indexbuild --help exited %d:\n%s", code, stderr.String())
	}
	// A bad flag is still invalid input.
	if code := run(context.Background(), []string{"build", "--no-such-flag"}, &strings.Builder{}, &strings.Builder{}); code != 4 {
		t.Fatalf("indexbuild build --no-such-flag exited %d, want 4", code)
	}
}
