package rows

import (
	"math"
	"strings"
	"testing"

	"github.com/panels/panels/store/formula"
)

func TestNumberNoExponentIsThePatternWithoutIt(t *testing.T) {
	if numberNoExponent == formula.NumberPattern || strings.ContainsAny(numberNoExponent, "eE") {
		t.Fatalf("numberNoExponent %q still takes an exponent (the pattern changed: update the Replace)", numberNoExponent)
	}
}

func TestLargestDouble(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   func(float64) bool
		want float64
	}{
		{"halving rounds to zero", func(v float64) bool { return v*0.5 == 0 }, 5e-324},
		{"doubling stays finite", func(v float64) bool { return !math.IsInf(v*2, 0) }, math.MaxFloat64 / 2},
		{"always", func(float64) bool { return true }, math.MaxFloat64},
		{"only zero", func(v float64) bool { return v == 0 }, 0},
	} {
		if got := largestDouble(tc.ok); got != tc.want {
			t.Errorf("%s: %g, want %g", tc.name, got, tc.want)
		}
	}
}
