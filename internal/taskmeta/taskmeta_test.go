package taskmeta

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
)

func base() Meta {
	return Meta{
		JobID: 100, SchemaID: 2, TableID: 30, ElementType: ElementTypeIndex, ElementIDs: []int64{5, 6},
		Source: "s3://tables/books", SourceFormat: "jsonl", Partitions: 4,
	}
}

func with(f func(*Meta)) Meta {
	m := base()
	f(&m)
	return m
}

func TestValidateTaskMeta(t *testing.T) {
	tests := []struct {
		name     string
		recorded Meta
		current  Meta
		field    string // "" when the task may be resumed
		want     []string
	}{
		{name: "identical", recorded: base(), current: base()},
		{name: "element order differs", recorded: base(), current: with(func(m *Meta) { m.ElementIDs = []int64{6, 5} })},
		{name: "jobID", recorded: base(), current: with(func(m *Meta) { m.JobID = 101 }), field: "jobID", want: []string{"100", "101"}},
		{name: "schemaID", recorded: base(), current: with(func(m *Meta) { m.SchemaID = 3 }), field: "schemaID", want: []string{"is 2", "is 3"}},
		{name: "tableID", recorded: base(), current: with(func(m *Meta) { m.TableID = 31 }), field: "tableID", want: []string{"is 30", "is 31"}},
		{name: "elementType", recorded: base(), current: with(func(m *Meta) { m.ElementType = ElementTypeFulltext }), field: "elementType", want: []string{`"index"`, `"fulltext"`}},
		{name: "element replaced", recorded: base(), current: with(func(m *Meta) { m.ElementIDs = []int64{5, 7} }), field: "elementIDs", want: []string{"[5,6]", "[5,7]"}},
		{name: "element added", recorded: base(), current: with(func(m *Meta) { m.ElementIDs = []int64{5, 6, 7} }), field: "elementIDs", want: []string{"[5,6]", "[5,6,7]"}},
		{name: "element removed", recorded: base(), current: with(func(m *Meta) { m.ElementIDs = []int64{5} }), field: "elementIDs", want: []string{"[5,6]", "[5]"}},
		{name: "source URI", recorded: base(), current: with(func(m *Meta) { m.Source = "s3://tables/books-v2" }), field: "source.uri", want: []string{`"s3://tables/books"`, `"s3://tables/books-v2"`}},
		{name: "source format", recorded: base(), current: with(func(m *Meta) { m.SourceFormat = "csv" }), field: "source.format", want: []string{`"jsonl"`, `"csv"`}},
		{name: "partitions", recorded: base(), current: with(func(m *Meta) { m.Partitions = 8 }), field: "partitions", want: []string{"is 4", "is 8"}},
		{name: "builder image", recorded: base(), current: with(func(m *Meta) { m.BuilderImage = "example.com/builder:2" }), field: "builder.image", want: []string{`is ""`, `"example.com/builder:2"`}},
		{name: "builder command", recorded: with(func(m *Meta) { m.BuilderCommand = []string{"/bin/build"} }), current: with(func(m *Meta) { m.BuilderCommand = []string{"/bin/build", "--fast"} }), field: "builder.command", want: []string{`["/bin/build"]`, `["/bin/build","--fast"]`}},
		{name: "first differing field wins", recorded: base(), current: with(func(m *Meta) { m.TableID = 31; m.ElementIDs = []int64{9} }), field: "tableID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check("status.task", "ns/b/100", tt.recorded, tt.current)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var mm *MismatchError
			if !errors.As(err, &mm) {
				t.Fatalf("Check = %v, want *MismatchError", err)
			}
			if mm.Field != tt.field {
				t.Errorf("field = %q, want %q", mm.Field, tt.field)
			}
			if !errors.Is(fmt.Errorf("resume: %w", err), retry.ErrStaleMeta) || retry.IsRetryable(fmt.Errorf("resume: %w", err)) {
				t.Errorf("wrapped mismatch must be non-retryable stale metadata")
			}
			msg := err.Error()
			for _, w := range append(tt.want, tt.field, "status.task", "ns/b/100", fmt.Sprintf("job %d", tt.current.JobID)) {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestMetaValidate(t *testing.T) {
	tests := []struct {
		name string
		m    Meta
		want string // substring of the error; "" for valid
	}{
		{"valid", base(), ""},
		{"zero job", with(func(m *Meta) { m.JobID = 0 }), "jobID must be positive"},
		{"negative table", with(func(m *Meta) { m.TableID = -1 }), "tableID must be positive"},
		{"bad type", with(func(m *Meta) { m.ElementType = "btree" }), "elementType"},
		{"no elements", with(func(m *Meta) { m.ElementIDs = nil }), "must not be empty"},
		{"duplicate element", with(func(m *Meta) { m.ElementIDs = []int64{5, 5} }), "unique"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	m := base()
	got, err := Decode(m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := Check("roundtrip", "k", m, got); err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(`{"jobID":1,"extra":true}`); err == nil {
		t.Fatal("Decode accepted an unknown field")
	}
	if _, err := Decode(`not json`); err == nil {
		t.Fatal("Decode accepted garbage")
	}
}

func TestKey(t *testing.T) {
	if got := Key("team-a", "orders", 7); got != "team-a/orders/7" {
		t.Fatalf("Key = %q", got)
	}
}

func TestRegisterFlags(t *testing.T) {
	var m Meta
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	RegisterFlags(fs, &m)
	args := []string{"--job-id=100", "--schema-id=2", "--table-id=30", "--element-type=index", "--element-ids=5, 6",
		"--source=s3://tables/books", "--source-format=jsonl", "--partitions=4"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := Check("flags", "k", base(), m); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--element-ids=5,x"}); err == nil {
		t.Fatal("non-numeric element ID accepted")
	}
	if err := fs.Parse([]string{"--builder-command=/bin/sh,-c"}); err == nil {
		t.Fatal("a builder command that is not a JSON array was accepted")
	}
}

// Args is what the operator passes; RegisterFlags must read back the very
// same task, including a command whose arguments hold commas and quotes.
func TestArgsRoundTrip(t *testing.T) {
	for _, m := range []Meta{
		base(),
		with(func(m *Meta) {
			m.BuilderImage = "example.com/builder:2"
			m.BuilderCommand = []string{"/bin/sh", "-c", `exec build --tag="a,b"`}
		}),
		with(func(m *Meta) { m.Source, m.SourceFormat = "", "" }),
	} {
		var got Meta
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		RegisterFlags(fs, &got)
		if err := fs.Parse(m.Args()); err != nil {
			t.Fatalf("parse %q: %v", m.Args(), err)
		}
		if err := Check("args", "k", m, got); err != nil {
			t.Errorf("Args %q read back differently: %v", m.Args(), err)
		}
	}
}
