package rows

import (
	"strings"
	"testing"

	"github.com/panels/panels/store/formula"
)

func TestNumberNoExponentIsThePatternWithoutIt(t *testing.T) {
	if numberNoExponent == formula.NumberPattern || strings.ContainsAny(numberNoExponent, "eE") {
		t.Fatalf("numberNoExponent %q still takes an exponent (the pattern changed: update the Replace)", numberNoExponent)
	}
}
