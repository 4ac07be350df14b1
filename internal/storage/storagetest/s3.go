package storagetest

import "testing"

// S3 reports a store backed by a real S3-compatible server, if one can run.
func S3(t testing.TB) (Store, bool) { return Store{}, false }
