package commit

// FinalizeCommitted is Finalize calling committed right after the marker is
// created, before the cleanup, so benchmarks can time the two apart.
var FinalizeCommitted = finalize
