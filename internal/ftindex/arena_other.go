//go:build !unix

package ftindex

func newArena(size int) (buf []byte, free func()) {
	return make([]byte, 0, size), func() {}
}
