//go:build unix

package ftindex

import "syscall"

// newArena returns size bytes of anonymous memory outside the Go heap: a
// live arena on the heap would let the collector's heap goal, twice the
// live heap, grow by as much garbage again. Pages cost nothing until
// touched. free returns them.
func newArena(size int) (buf []byte, free func()) {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		b := make([]byte, size)
		return b[:0], func() {}
	}
	return b[:0], func() { syscall.Munmap(b) }
}
