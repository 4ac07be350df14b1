package globalsortbench

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/indexbuild/indexbuild/internal/storage"
)

func TestCountingBucketCountsReadsAndBytes(t *testing.T) {
	ctx := context.Background()
	mem := storage.FromBlob("mem://", memblob.OpenBucket(nil))
	defer mem.Close()
	data := strings.Repeat("0123456789", 100)
	if err := mem.Write(ctx, "dir/obj", strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	cb := &countingBucket{Bucket: mem}
	// Through a Sub, as readers open a version: ranged reads stay ranged.
	sub := storage.Sub(cb, "dir/")
	read := func(r io.ReadCloser, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	steps := []struct {
		name              string
		do                func()
		requests, byteSum int64
	}{
		{"whole read", func() { read(sub.NewReader(ctx, "obj")) }, 1, 1000},
		{"ranged read", func() {
			if got := read(storage.NewRangeReader(ctx, sub, "obj", 105, 10)); got != data[105:115] {
				t.Fatalf("ranged read = %q", got)
			}
		}, 2, 1010},
		{"attributes", func() { _, _ = sub.Attributes(ctx, "obj") }, 3, 1010},
		{"list", func() { _, _ = sub.List(ctx, "") }, 4, 1010},
		{"read revision", func() { _, _, _ = sub.ReadRevision(ctx, "obj") }, 5, 2010},
		{"missing object", func() { _, _ = sub.NewReader(ctx, "none") }, 6, 2010},
	}
	for _, s := range steps {
		s.do()
		if r, b := cb.requests.Load(), cb.bytes.Load(); r != s.requests || b != s.byteSum {
			t.Errorf("after %s: %d requests, %d bytes; want %d, %d", s.name, r, b, s.requests, s.byteSum)
		}
	}
}

func TestRunPoolBoundsConcurrency(t *testing.T) {
	var running, peak atomic.Int32
	ran := make([]bool, 9)
	_, err := runPool(context.Background(), len(ran), 2, func(_ context.Context, i int) error {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		ran[i] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 2 {
		t.Errorf("peak concurrency %d, want 2", peak.Load())
	}
	for i, ok := range ran {
		if !ok {
			t.Errorf("task %d did not run", i)
		}
	}
}

func TestWorkerPhases(t *testing.T) {
	at := func(ms int, text string) stampedLine {
		return stampedLine{At: time.Duration(ms) * time.Millisecond, Text: text}
	}
	p := proc{Wall: 1000 * time.Millisecond, Stderr: []stampedLine{
		at(600, "partition 0/2: 500 rows, 833 rows/s, 100.0% of share read"),
		at(800, "partition 0/2: element 1 staged, 10 bytes"),
		at(900, "partition 0/2: element 4 staged, 10 bytes"),
		at(950, "partition 0/2: done, peak RSS 20.0 MiB"),
	}}
	scan, write, rest, ok := workerPhases(p)
	if !ok || scan != 600*time.Millisecond || write != 300*time.Millisecond || rest != 100*time.Millisecond {
		t.Errorf("workerPhases = %v, %v, %v, %v; want 600ms, 300ms, 100ms, true", scan, write, rest, ok)
	}
	if _, _, _, ok := workerPhases(proc{Wall: time.Second, Stderr: p.Stderr[1:]}); ok {
		t.Error("workerPhases without the scan's last progress line: ok")
	}
}

func TestRunProcStampsStderrAndQuotesFailures(t *testing.T) {
	p, err := runProc(context.Background(), nil, "sh", "-c", `echo one >&2; echo '{"a":1}'; echo two >&2`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Stderr) != 2 || p.Stderr[0].Text != "one" || p.Stderr[1].Text != "two" || p.Stderr[1].At < p.Stderr[0].At || p.Stderr[1].At > p.Wall {
		t.Errorf("stderr lines %+v (wall %v)", p.Stderr, p.Wall)
	}
	if got := string(p.lastJSONLine()); got != `{"a":1}` {
		t.Errorf("last stdout line %q", got)
	}
	_, err = runProc(context.Background(), nil, "sh", "-c", "echo why >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "why") {
		t.Errorf("failure: %v, want it to quote stderr", err)
	}
}

func TestShortFuncName(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/indexbuild/indexbuild/internal/merge.Run":                                                    "internal/merge.Run",
		"github.com/cockroachdb/pebble/v2/sstable.(*twoLevelIterator[go.shape.struct { a b },go.shape.*x]).Next": "cockroachdb/pebble/v2/sstable.(*twoLevelIterator[…]).Next",
		"runtime.mallocgc": "runtime.mallocgc",
	} {
		if got := shortFuncName(in); got != want {
			t.Errorf("shortFuncName(%q) = %q, want %q", in, got, want)
		}
	}
}
