package staging_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// TestMergeMetaRoundTrip: a merged file and the range's metadata written
// and read back; metadata of another task is stale and stays; unreadable
// metadata is replaced.
func TestMergeMetaRoundTrip(t *testing.T) {
	ctx := context.Background()
	b := storagetest.Mem().Open(t)
	f, err := staging.WriteMergeFile(ctx, b, 1, 3, strings.NewReader("sst bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != staging.MergeFileKey(1, 3) || f.Size != 9 || f.Element != 3 {
		t.Fatalf("WriteMergeFile = %+v", f)
	}
	f.KeyRange = &staging.KeyRange{First: []byte{1, 2}, Last: []byte{1, 9}}
	m := staging.MergeMeta{Task: task(), Range: 1, Ranges: 3, Elements: []staging.MergedElement{
		{Element: 3, Lower: []byte{1, 2}, Upper: []byte{1, 10}, Entries: 2, File: &f},
		{Element: 4, Lower: []byte{1}, Upper: []byte{0xff}},
	}}
	if err := staging.WriteMergeMeta(ctx, b, m); err != nil {
		t.Fatal(err)
	}
	got, ok, err := staging.ReadMergeMeta(ctx, b, 1)
	m.FormatVersion = staging.FormatVersion
	if !ok || err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("ReadMergeMeta = %+v, %v, %v; want %+v", got, ok, err, m)
	}
	if _, ok, err := staging.ReadMergeMeta(ctx, b, 0); ok || err != nil {
		t.Fatalf("range 0 not merged: %v, %v", ok, err)
	}

	other := m
	other.Task.JobID = 8
	if err := staging.WriteMergeMeta(ctx, b, other); retry.ExitCode(err) != retry.ExitStaleMeta || !strings.Contains(err.Error(), staging.MergeMetaKey(1)) {
		t.Fatalf("another task's merge metadata over this one: %v, want stale naming the key", err)
	}
	if got, _, _ := staging.ReadMergeMeta(ctx, b, 1); got.Task.JobID != 7 {
		t.Fatalf("stale write replaced the metadata: job %d", got.Task.JobID)
	}

	if err := b.Write(ctx, staging.MergeMetaKey(1), strings.NewReader("{")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := staging.ReadMergeMeta(ctx, b, 1); !ok || retry.ExitCode(err) != retry.ExitInvalidInput {
		t.Fatalf("unreadable metadata: %v, %v", ok, err)
	}
	if err := staging.WriteMergeMeta(ctx, b, other); err != nil {
		t.Fatalf("over unreadable metadata: %v", err)
	}

	bad := m
	bad.Elements = bad.Elements[:1]
	if err := staging.WriteMergeMeta(ctx, b, bad); retry.ExitCode(err) != retry.ExitInvalidInput {
		t.Fatalf("metadata missing an element: %v", err)
	}
}
