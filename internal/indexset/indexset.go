// Package indexset reads the interval notation the Job API uses for
// completed and failed indexes ("1,3-5,7").
package indexset

import (
	"fmt"
	"strconv"
	"strings"
)

// Count returns how many indexes intervals holds. Malformed parts count as
// nothing: the apiserver validates the notation, so they do not occur.
func Count(intervals string) int {
	n := 0
	for _, part := range strings.Split(intervals, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			if _, err := strconv.Atoi(part); err == nil {
				n++
			}
			continue
		}
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if errA != nil || errB != nil || b < a {
			continue
		}
		n += b - a + 1
	}
	return n
}

// FirstN returns the notation for indexes 0..n-1.
func FirstN(n int) string {
	switch {
	case n <= 0:
		return ""
	case n == 1:
		return "0"
	default:
		return fmt.Sprintf("0-%d", n-1)
	}
}
