package keyenc

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/table"
)

// TestKeyOrder checks that encoded order equals value order for each type,
// NULL first, on edge cases and random values.
func TestKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	tests := []struct {
		typ    string
		values []table.Value
		cmp    func(a, b table.Value) int
	}{
		{table.TypeInt, ints(rng, math.MinInt64, -1, 0, 1, math.MaxInt64), func(a, b table.Value) int { return cmp.Compare(a.Int, b.Int) }},
		{table.TypeFloat, floats(rng, -math.MaxFloat64, -1.5, -math.SmallestNonzeroFloat64, 0, math.SmallestNonzeroFloat64, 2, math.MaxFloat64), func(a, b table.Value) int { return cmp.Compare(a.Float, b.Float) }},
		{table.TypeString, strs(rng, "", "\x00", "\x00\x00", "\x00\x01", "a", "a\x00", "a\x00b", "ab", "\xff", "é", "東京"), func(a, b table.Value) int { return strings.Compare(a.Str, b.Str) }},
		{table.TypeBool, []table.Value{table.BoolValue(true), table.BoolValue(false)}, func(a, b table.Value) int { return cmp.Compare(a.Int, b.Int) }},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			vals := append(slices.Clone(tt.values), table.Value{})
			for _, a := range vals {
				ka := AppendValue(nil, a)
				got, rest, err := DecodeValue(append(bytes.Clone(ka), "tail"...), tt.typ)
				if err != nil || string(rest) != "tail" || got != a {
					t.Fatalf("decode(%v) = %v, %q, %v", a, got, rest, err)
				}
				for _, b := range vals {
					want := 0
					switch {
					case a.Kind == table.Null && b.Kind == table.Null:
					case a.Kind == table.Null:
						want = -1
					case b.Kind == table.Null:
						want = 1
					default:
						want = tt.cmp(a, b)
					}
					if got := bytes.Compare(ka, AppendValue(nil, b)); got != want {
						t.Fatalf("compare(%v, %v) = %d, want %d", a, b, got, want)
					}
				}
			}
		})
	}
}

// TestCompositePrefix: a key of (a, b) lies inside [enc(a), PrefixEnd(enc(a)))
// for every b, and outside it for any other first value.
func TestCompositePrefix(t *testing.T) {
	for _, a := range []string{"", "a", "a\x00", "ab"} {
		lo := AppendValue(nil, table.Value{Kind: table.String, Str: a})
		hi := PrefixEnd(lo)
		for _, first := range []string{"", "a", "a\x00", "ab", "b"} {
			for _, second := range []string{"", "\x00", "zz"} {
				k := AppendValue(AppendValue(nil, table.Value{Kind: table.String, Str: first}), table.Value{Kind: table.String, Str: second})
				in := bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0
				if in != (first == a) {
					t.Fatalf("key (%q,%q) in range of %q = %v", first, second, a, in)
				}
			}
		}
	}
	if PrefixEnd([]byte{0xff, 0xff}) != nil || !bytes.Equal(PrefixEnd([]byte{1, 0xff}), []byte{2}) {
		t.Fatal("PrefixEnd carries wrong")
	}
}

func TestNegativeZero(t *testing.T) {
	if !bytes.Equal(AppendValue(nil, table.Value{Kind: table.Float, Float: math.Copysign(0, -1)}), AppendValue(nil, table.Value{Kind: table.Float})) {
		t.Fatal("-0 and +0 encode differently")
	}
}

func ints(rng *rand.Rand, fixed ...int64) []table.Value {
	var out []table.Value
	for _, v := range fixed {
		out = append(out, table.Value{Kind: table.Int, Int: v})
	}
	for range 30 {
		out = append(out, table.Value{Kind: table.Int, Int: int64(rng.Uint64())})
	}
	return out
}

func floats(rng *rand.Rand, fixed ...float64) []table.Value {
	var out []table.Value
	for _, v := range fixed {
		out = append(out, table.Value{Kind: table.Float, Float: v})
	}
	for range 30 {
		out = append(out, table.Value{Kind: table.Float, Float: rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))})
	}
	return out
}

func strs(rng *rand.Rand, fixed ...string) []table.Value {
	var out []table.Value
	for _, v := range fixed {
		out = append(out, table.Value{Kind: table.String, Str: v})
	}
	for range 30 {
		b := make([]byte, rng.IntN(4))
		for i := range b {
			b[i] = []byte{0, 1, 'a', 0xff}[rng.IntN(4)]
		}
		out = append(out, table.Value{Kind: table.String, Str: string(b)})
	}
	return out
}
