package partition

import (
	"fmt"
	"testing"
)

func TestPlanCoversEverythingOnce(t *testing.T) {
	tests := []struct {
		name    string
		sources []Source
		n       int
		// maxSkew bounds the largest partition's weight over the ideal
		// share; atomic pieces make exact balance impossible.
		maxSkew int64
	}{
		{"one file many partitions", []Source{{Path: "a", Size: 1000}}, 7, 1},
		{"many files one partition", []Source{{Path: "a", Size: 10}, {Path: "b", Size: 20}, {Path: "c", Size: 30}}, 1, 0},
		{"uneven files", []Source{{Path: "a", Size: 1}, {Path: "b", Size: 999}, {Path: "c", Size: 5}}, 4, 1},
		{"more partitions than bytes", []Source{{Path: "a", Size: 3}}, 8, 1},
		{"empty table", []Source{{Path: "a", Size: 0}}, 3, 0},
		{"no files", nil, 3, 0},
		{"row groups", []Source{{Path: "p", Pieces: []int64{100, 100, 100, 100}}}, 4, 0},
		{"row groups fewer than partitions", []Source{{Path: "p", Pieces: []int64{100, 100}}}, 5, 100},
		{"mixed", []Source{{Path: "a.gz", Pieces: []int64{50}}, {Path: "b", Size: 200}, {Path: "p", Pieces: []int64{30, 0, 30}}}, 3, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bytesSeen := map[string][]int{}
			piecesSeen := map[string][]int{}
			for _, s := range tt.sources {
				if s.Pieces == nil {
					bytesSeen[s.Path] = make([]int, s.Size)
				} else {
					piecesSeen[s.Path] = make([]int, len(s.Pieces))
				}
			}
			var total int64
			for _, s := range tt.sources {
				total += weight(s)
			}
			for p := range tt.n {
				var w int64
				for _, sp := range Plan(tt.sources, p, tt.n) {
					if sp.Start >= sp.End {
						t.Errorf("partition %d: empty split %+v", p, sp)
					}
					for i := sp.Start; i < sp.End; i++ {
						if sp.Pieces {
							piecesSeen[sp.Path][i]++
							w += piecesOf(tt.sources, sp.Path)[i]
						} else {
							bytesSeen[sp.Path][i]++
							w++
						}
					}
				}
				ideal := (total + int64(tt.n) - 1) / int64(tt.n)
				if w > ideal+tt.maxSkew {
					t.Errorf("partition %d has weight %d, ideal %d", p, w, ideal)
				}
			}
			for path, seen := range bytesSeen {
				for i, c := range seen {
					if c != 1 {
						t.Fatalf("%s byte %d covered %d times", path, i, c)
					}
				}
			}
			for path, seen := range piecesSeen {
				for i, c := range seen {
					if c != 1 {
						t.Fatalf("%s piece %d covered %d times", path, i, c)
					}
				}
			}
		})
	}
}

func TestPlanDeterministicAndOrdered(t *testing.T) {
	src := []Source{{Path: "a", Size: 100}, {Path: "b", Size: 100}}
	got := fmt.Sprint(Plan(src, 1, 4), Plan(src, 2, 4))
	want := "[{a false 50 100}] [{b false 0 50}]"
	if got != want {
		t.Fatalf("plans = %s, want %s", got, want)
	}
	if Plan(src, 4, 4) != nil || Plan(src, 0, 0) != nil {
		t.Fatal("out-of-range partition got a plan")
	}
}

func TestBoundLargeTables(t *testing.T) {
	// 2^62 bytes times 1000 partitions overflows int64 without 128-bit math.
	total := int64(1) << 62
	if got := bound(total, 999, 1000); got != total/1000*999+total%1000*999/1000 {
		t.Fatalf("bound = %d", got)
	}
}

func piecesOf(sources []Source, path string) []int64 {
	for _, s := range sources {
		if s.Path == path {
			return s.Pieces
		}
	}
	return nil
}
