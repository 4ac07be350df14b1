// Package gentable generates deterministic sample tables: a "books" table
// with an index on an int column with many duplicates, a composite string
// index, a float index with NULLs, a unique index, and full-text indexes on
// Unicode text. Row i depends only on (seed, i), so the same rows come out
// whatever the number of files or the format.
package gentable

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// Element IDs of the generated catalog.
const (
	IndexYear        int64 = 1 // index on year: many duplicates
	IndexAuthorTitle int64 = 2 // composite index on (author, title)
	IndexPrice       int64 = 3 // index on price: floats, NULLs
	IndexISBN        int64 = 4 // unique index on isbn
	FulltextDesc     int64 = 5 // fulltext on description
	FulltextTitle    int64 = 6 // fulltext on title and description
)

// Catalog is the generated table's catalog.
func Catalog(schemaID, tableID int64) *table.Table {
	return &table.Table{
		SchemaID: schemaID, TableID: tableID, Name: "books",
		Columns: []table.Column{
			{Name: "id", Type: table.TypeInt},
			{Name: "isbn", Type: table.TypeString},
			{Name: "title", Type: table.TypeString},
			{Name: "author", Type: table.TypeString},
			{Name: "year", Type: table.TypeInt},
			{Name: "price", Type: table.TypeFloat},
			{Name: "in_stock", Type: table.TypeBool},
			{Name: "description", Type: table.TypeString},
		},
		PrimaryKey: "id",
		Indexes: []table.Index{
			{ID: IndexYear, Name: "idx_year", Columns: []string{"year"}, Type: taskmeta.ElementTypeIndex},
			{ID: IndexAuthorTitle, Name: "idx_author_title", Columns: []string{"author", "title"}, Type: taskmeta.ElementTypeIndex},
			{ID: IndexPrice, Name: "idx_price", Columns: []string{"price"}, Type: taskmeta.ElementTypeIndex},
			{ID: IndexISBN, Name: "idx_isbn", Columns: []string{"isbn"}, Type: taskmeta.ElementTypeIndex, Unique: true},
			{ID: FulltextDesc, Name: "ft_description", Columns: []string{"description"}, Type: taskmeta.ElementTypeFulltext},
			{ID: FulltextTitle, Name: "ft_title_description", Columns: []string{"title", "description"}, Type: taskmeta.ElementTypeFulltext},
		},
	}
}

var (
	words = strings.Fields(`the quick brown fox jumps over lazy dog river mountain winter summer
		garden library shadow light stone ocean empire journey secret silver golden forest
		night morning city machine dream letter island storm harbor kingdom memory`)
	// Non-ASCII words exercise the analyzer's Unicode segmentation and
	// case folding, and the key encoding of multi-byte strings.
	unicodeWords = []string{"Über", "straße", "café", "naïve", "Ångström", "東京", "물고기", "Москва", "ελπίδα", "🙂"}
	authors      = []string{"Ada Byron", "Émile Zola", "Haruki Murakami", "Jane Austen", "Leo Tolstoy",
		"Mary Shelley", "Chinua Achebe", "Gabriel García Márquez", "Toni Morrison", "Anonymous"}
)

// Row returns row i of the table generated with seed, in catalog column
// order. Strings are never empty (CSV could not tell "" from NULL) and never
// hold newlines (CSV records are one line).
func Row(seed uint64, i int) []table.Value {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	str := func(s string) table.Value { return table.Value{Kind: table.String, Str: s} }
	text := func(n int) string {
		ws := make([]string, n)
		for j := range ws {
			if r.IntN(8) == 0 {
				ws[j] = unicodeWords[r.IntN(len(unicodeWords))]
			} else {
				ws[j] = words[r.IntN(len(words))]
			}
			if r.IntN(10) == 0 {
				first, size := utf8.DecodeRuneInString(ws[j])
				ws[j] = string(unicode.ToUpper(first)) + ws[j][size:]
			}
		}
		return strings.Join(ws, " ")
	}
	row := []table.Value{
		{Kind: table.Int, Int: int64(i)},
		str(fmt.Sprintf("978-%d-%010d", seed%10, i)),
		str(text(1 + r.IntN(4))),
		str(authors[r.IntN(len(authors))]),
		{Kind: table.Int, Int: int64(1900 + r.IntN(125))},
		{},
		table.BoolValue(r.IntN(2) == 0),
		{},
	}
	if r.IntN(10) != 0 {
		// Cents, some negative (refunds), so float keys cross zero.
		row[5] = table.Value{Kind: table.Float, Float: float64(r.IntN(20000)-1000) / 100}
	}
	if r.IntN(20) != 0 {
		row[7] = str(text(5 + r.IntN(30)))
	}
	if r.IntN(50) == 0 {
		// A year before the epoch and a far one keep negative ints honest.
		row[4].Int = -row[4].Int
	}
	return row
}
