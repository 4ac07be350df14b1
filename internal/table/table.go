// Package table describes a source table: the _table.json catalog (columns
// and index definitions) that sits next to the table's data files.
package table

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// CatalogName is the object name of the catalog inside a table's prefix.
const CatalogName = "_table.json"

// Column types.
const (
	TypeInt    = "int"    // 64-bit signed integer
	TypeFloat  = "float"  // 64-bit IEEE float
	TypeString = "string" // UTF-8 string, compared bytewise
	TypeBool   = "bool"
)

// Table is the catalog of one table.
type Table struct {
	SchemaID int64    `json:"schemaID"`
	TableID  int64    `json:"tableID"`
	Name     string   `json:"name,omitempty"`
	Columns  []Column `json:"columns"`
	// PrimaryKey names a unique, non-null int or string column whose value
	// becomes the row handle. Empty means the handle is the row's position
	// in its data file (see docs/table-format.md).
	PrimaryKey string  `json:"primaryKey,omitempty"`
	Indexes    []Index `json:"indexes"`
}

// Column is one column of a table. Every column is nullable.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Index is an element of the table: a sorted-key index or a full-text index.
type Index struct {
	ID      int64    `json:"id"`
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Type    string   `json:"type"` // taskmeta.ElementTypeIndex or taskmeta.ElementTypeFulltext
	Unique  bool     `json:"unique,omitempty"`
}

// Parse decodes and validates a catalog. Unknown fields are rejected so a
// typo in a hand-written catalog does not silently drop an index.
func Parse(data []byte) (*Table, error) {
	var t Table
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, &retry.InvalidInputError{File: CatalogName, Err: err}
	}
	if err := t.Validate(); err != nil {
		return nil, &retry.InvalidInputError{File: CatalogName, Err: err}
	}
	return &t, nil
}

// Validate checks the catalog's internal consistency.
func (t *Table) Validate() error {
	var errs []error
	if t.SchemaID <= 0 || t.TableID <= 0 {
		errs = append(errs, fmt.Errorf("schemaID and tableID must be positive, got %d and %d", t.SchemaID, t.TableID))
	}
	if len(t.Columns) == 0 {
		errs = append(errs, errors.New("no columns"))
	}
	seen := map[string]bool{}
	for _, c := range t.Columns {
		switch {
		case c.Name == "":
			errs = append(errs, errors.New("column with empty name"))
		case seen[c.Name]:
			errs = append(errs, fmt.Errorf("column %q repeats", c.Name))
		case !slices.Contains([]string{TypeInt, TypeFloat, TypeString, TypeBool}, c.Type):
			errs = append(errs, fmt.Errorf("column %q: unknown type %q", c.Name, c.Type))
		}
		seen[c.Name] = true
	}
	if t.PrimaryKey != "" {
		if c, ok := t.Column(t.PrimaryKey); !ok {
			errs = append(errs, fmt.Errorf("primaryKey %q is not a column", t.PrimaryKey))
		} else if c.Type != TypeInt && c.Type != TypeString {
			errs = append(errs, fmt.Errorf("primaryKey %q must be int or string, is %s", t.PrimaryKey, c.Type))
		}
	}
	ids := map[int64]bool{}
	for _, ix := range t.Indexes {
		if ix.ID <= 0 || ids[ix.ID] {
			errs = append(errs, fmt.Errorf("index %q: ID %d must be positive and unique", ix.Name, ix.ID))
		}
		ids[ix.ID] = true
		if ix.Type != taskmeta.ElementTypeIndex && ix.Type != taskmeta.ElementTypeFulltext {
			errs = append(errs, fmt.Errorf("index %d: unknown type %q", ix.ID, ix.Type))
		}
		if len(ix.Columns) == 0 {
			errs = append(errs, fmt.Errorf("index %d: no columns", ix.ID))
		}
		for _, name := range ix.Columns {
			c, ok := t.Column(name)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("index %d: column %q does not exist", ix.ID, name))
			case ix.Type == taskmeta.ElementTypeFulltext && c.Type != TypeString:
				errs = append(errs, fmt.Errorf("fulltext index %d: column %q is %s, not string", ix.ID, name, c.Type))
			}
		}
	}
	return errors.Join(errs...)
}

// Column returns the column called name.
func (t *Table) Column(name string) (Column, bool) {
	i := t.ColumnIndex(name)
	if i < 0 {
		return Column{}, false
	}
	return t.Columns[i], true
}

// ColumnIndex returns the position of the column called name, or -1.
func (t *Table) ColumnIndex(name string) int {
	return slices.IndexFunc(t.Columns, func(c Column) bool { return c.Name == name })
}

// Index returns the index with the given ID.
func (t *Table) Index(id int64) (Index, bool) {
	i := slices.IndexFunc(t.Indexes, func(ix Index) bool { return ix.ID == id })
	if i < 0 {
		return Index{}, false
	}
	return t.Indexes[i], true
}

// Resolve returns the task's elements in task order. It fails with stale
// metadata (exit 3) when the catalog is not the task's table, an element is
// missing, or an element has another type than the task says: the task was
// recorded against a catalog that has changed since, and retrying cannot help.
func (t *Table) Resolve(m taskmeta.Meta) ([]Index, error) {
	if t.SchemaID != m.SchemaID || t.TableID != m.TableID {
		return nil, fmt.Errorf("%w: job %d is for schema %d table %d, but the catalog %s describes schema %d table %d",
			retry.ErrStaleMeta, m.JobID, m.SchemaID, m.TableID, CatalogName, t.SchemaID, t.TableID)
	}
	out := make([]Index, 0, len(m.ElementIDs))
	for _, id := range m.ElementIDs {
		ix, ok := t.Index(id)
		if !ok {
			return nil, &retry.ElementNotFoundError{ElementID: id, TableID: m.TableID, JobID: m.JobID}
		}
		if ix.Type != m.ElementType {
			return nil, fmt.Errorf("%w: element %d in table %d is an %q element, but job %d builds %q elements",
				retry.ErrStaleMeta, id, t.TableID, ix.Type, m.JobID, m.ElementType)
		}
		out = append(out, ix)
	}
	return out, nil
}

// Element is an index definition with its columns' types: what every
// element file carries about itself, so readers need only the index output,
// not the source table.
type Element struct {
	ID      int64    `json:"id"`
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Unique  bool     `json:"unique,omitempty"`
	Columns []Column `json:"columns"`
}

// Element describes index ix of the table.
func (t *Table) Element(ix Index) Element {
	e := Element{ID: ix.ID, Name: ix.Name, Type: ix.Type, Unique: ix.Unique}
	for _, name := range ix.Columns {
		c, _ := t.Column(name)
		e.Columns = append(e.Columns, c)
	}
	return e
}

// ColumnNames returns the element's column names in order.
func (e Element) ColumnNames() []string {
	names := make([]string, len(e.Columns))
	for i, c := range e.Columns {
		names[i] = c.Name
	}
	return names
}
