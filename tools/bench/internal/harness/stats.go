package harness

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Median is the middle of xs (the upper one of an even count), the zero value when xs is empty.
// xs is left in its order.
func Median[T cmp.Ordered](xs []T) T {
	if len(xs) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// Ms formats d in milliseconds with decimals places, from whole microseconds ("12.3 ms"): the
// results files print durations this way.
func Ms(d time.Duration, decimals int) string {
	return fmt.Sprintf("%.*f ms", decimals, float64(d.Microseconds())/1000)
}
