//go:build !linux

package storagetest

import "os/exec"

// dieWithParent: only Linux can tie a child's life to its parent; elsewhere
// a shared server outlives an interrupted test process.
func dieWithParent(*exec.Cmd) {}
