package taskmeta

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// RegisterFlags binds the task-metadata flags every data-plane subcommand
// takes (the operator passes them to workers and finalize as arguments).
func RegisterFlags(fs *flag.FlagSet, m *Meta) {
	fs.Int64Var(&m.JobID, "job-id", 0, "task job ID")
	fs.Int64Var(&m.SchemaID, "schema-id", 0, "schema ID of the table")
	fs.Int64Var(&m.TableID, "table-id", 0, "table ID")
	fs.StringVar(&m.ElementType, "element-type", "", `element type: "index" or "fulltext"`)
	fs.Var((*idList)(&m.ElementIDs), "element-ids", "comma-separated element IDs")
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
