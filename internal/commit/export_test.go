package commit

// FinalizeCommitted is Finalize calling committed right after the marker is
// created, before the cleanup, so benchmarks can time the two apart.
var FinalizeCommitted = finalize

// SetMaxEagerMetas lowers the number of partition metadata objects read
// before listing, and returns a function restoring it.
func SetMaxEagerMetas(n int) (restore func()) {
	old := maxEagerMetas
	maxEagerMetas = n
	return func() { maxEagerMetas = old }
}
