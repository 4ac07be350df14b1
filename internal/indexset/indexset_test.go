package indexset

import "testing"

func TestCount(t *testing.T) {
	tests := map[string]int{
		"":           0,
		"0":          1,
		"0-3":        4,
		"1,3-5,7":    5,
		"0-0":        1,
		"2,4,6-9,11": 7,
		"x":          0,
		"5-3":        0,
	}
	for in, want := range tests {
		if got := Count(in); got != want {
			t.Errorf("Count(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestFirstN(t *testing.T) {
	tests := map[int]string{0: "", 1: "0", 2: "0-1", 16: "0-15"}
	for n, want := range tests {
		if got := FirstN(n); got != want {
			t.Errorf("FirstN(%d) = %q, want %q", n, got, want)
		}
		if Count(FirstN(n)) != n {
			t.Errorf("Count(FirstN(%d)) != %d", n, n)
		}
	}
}
