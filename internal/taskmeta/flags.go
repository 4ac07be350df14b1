package taskmeta

import (
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// RegisterFlags binds the task-metadata flags every data-plane subcommand
// takes (the operator passes all of them to workers and finalize, so each
// can compare the task it runs against what the output recorded).
func RegisterFlags(fs *flag.FlagSet, m *Meta) {
	fs.Int64Var(&m.JobID, "job-id", 0, "task job ID")
	fs.Int64Var(&m.SchemaID, "schema-id", 0, "schema ID of the table")
	fs.Int64Var(&m.TableID, "table-id", 0, "table ID")
	fs.StringVar(&m.ElementType, "element-type", "", `element type: "index" or "fulltext"`)
	fs.Var((*idList)(&m.ElementIDs), "element-ids", "comma-separated element IDs")
	fs.StringVar(&m.Source, "source", "", "URI of the table (holds _table.json and data files)")
	fs.StringVar(&m.SourceFormat, "source-format", "", "jsonl, csv or parquet; empty: by file extension")
	fs.IntVar(&m.Partitions, "partitions", 1, "number of partitions")
	fs.StringVar(&m.BuilderImage, "builder-image", "", "spec.builder.image of the task, recorded as task metadata (empty: the operator's default)")
	fs.Var((*jsonStrings)(&m.BuilderCommand), "builder-command", `spec.builder.command of the task as a JSON array, recorded as task metadata`)
}

// Args renders m as the flags RegisterFlags reads; a flag whose value is
// empty is left out.
func (m Meta) Args() []string {
	args := []string{
		"--job-id=" + strconv.FormatInt(m.JobID, 10),
		"--schema-id=" + strconv.FormatInt(m.SchemaID, 10),
		"--table-id=" + strconv.FormatInt(m.TableID, 10),
		"--element-type=" + m.ElementType,
		"--element-ids=" + FormatIDs(m.ElementIDs),
		"--partitions=" + strconv.Itoa(m.Partitions),
	}
	for _, f := range []struct{ name, value string }{
		{"source", m.Source},
		{"source-format", m.SourceFormat},
		{"builder-image", m.BuilderImage},
		{"builder-command", (*jsonStrings)(&m.BuilderCommand).String()},
	} {
		if f.value != "" {
			args = append(args, "--"+f.name+"="+f.value)
		}
	}
	return args
}

// FormatIDs renders IDs the way the --element-ids flag reads them.
func FormatIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(parts, ",")
}

type idList []int64

func (l *idList) String() string { return FormatIDs(*l) }

func (l *idList) Set(s string) error {
	*l = (*l)[:0]
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			return fmt.Errorf("element ID %q: %w", part, err)
		}
		*l = append(*l, id)
	}
	return nil
}

// jsonStrings is a flag holding a JSON array of strings: a command's
// arguments may contain any character, commas included.
type jsonStrings []string

func (l *jsonStrings) String() string {
	if l == nil || len(*l) == 0 {
		return ""
	}
	b, _ := json.Marshal([]string(*l)) // strings always marshal
	return string(b)
}

func (l *jsonStrings) Set(s string) error {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return fmt.Errorf("want a JSON array of strings: %w", err)
	}
	*l = v
	return nil
}
