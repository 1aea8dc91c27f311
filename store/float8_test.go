package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/panels/panels/store/storetest"
)

// panels_float8 (migration 0014) must read every number text as strconv.ParseFloat does: the
// same double, no number where ParseFloat gives +-Inf, the zero of the sign where it underflows;
// and never fail, also inside a parallel query, where PostgreSQL refuses subtransactions.
func TestPanelsFloat8MatchesParseFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 23))
	var texts []string
	add := func(s ...string) { texts = append(texts, s...) }
	// Exact bounds and their neighbours, written with few and with many digits.
	half := new(big.Float).SetPrec(2000).SetMantExp(big.NewFloat(1), -1075)                                                                    // 2^-1075
	top := new(big.Float).SetPrec(2000).Sub(new(big.Float).SetMantExp(big.NewFloat(1), 1024), new(big.Float).SetMantExp(big.NewFloat(1), 970)) // 2^1024 - 2^970
	for _, b := range []*big.Float{half, top} {
		exact := b.Text('e', -1)
		add(exact, "-"+exact, b.Text('e', 30), b.Text('e', 17), b.Text('e', 16))
		m, e, _ := strings.Cut(exact, "e")
		add(m+"1e"+e, strings.TrimRight(m, "0")+"e"+e) // just above the bound; the bound again
		// Just below: the last digit lowered.
		last := m[len(m)-1]
		if last > '0' {
			add(m[:len(m)-1] + string(last-1) + "e" + e)
		}
		add(m+strings.Repeat("0", 1500)+"1e"+e, m+strings.Repeat("0", 1500)+"e"+e)
	}
	for _, f := range []float64{math.MaxFloat64, math.SmallestNonzeroFloat64, 0x1p-1022, 0x1p1023, 1, 0.1} {
		for _, prec := range []int{-1, 3, 17, 25} {
			s := strconv.FormatFloat(f, 'e', prec, 64)
			add(s, "-"+s, strconv.FormatFloat(f, 'f', -1, 64))
		}
	}
	add("0", "-0", "0.000e-99999", "-0e+99999999999999999999", "1e-324", "1e-323", "9.9e-324", "1e308", "9.99e308", "1e309",
		"1e99999999999999999999", "1e-99999999999999999999", "."+strings.Repeat("0", 400)+"5", strings.Repeat("9", 309),
		strings.Repeat("9", 308)+".9", "1"+strings.Repeat("0", 308), " 1e309 ", "\t-2.5e-324\n", "+.5e-323", "5.e-324", "1.e5")
	// Random mantissas around the two edges, and anywhere.
	for range 3000 {
		digits := make([]byte, 1+rng.IntN(40))
		for i := range digits {
			digits[i] = byte('0' + rng.IntN(10))
		}
		exp := []int{-325 - rng.IntN(40), -324 + rng.IntN(3) - rng.IntN(40), 308 - rng.IntN(40), 300 + rng.IntN(20), rng.IntN(700) - 350}[rng.IntN(5)]
		point := rng.IntN(len(digits) + 1)
		add(fmt.Sprintf("%s%s.%se%d", []string{"", "-", "+"}[rng.IntN(3)], digits[:point], digits[point:], exp))
	}
	check := func(t *testing.T, ctx context.Context, db bun.IDB) {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT x, panels_float8(x)::text FROM unnest(?::text[]) WITH ORDINALITY AS u(x, i) ORDER BY i`, pgdialect.Array(texts))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var x string
			var got sql.NullString
			if err := rows.Scan(&x, &got); err != nil {
				t.Fatal(err)
			}
			n++
			want, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil && !math.IsInf(want, 0) {
				t.Fatalf("%q: %v", x, err)
			}
			switch {
			case math.IsInf(want, 0):
				if got.Valid {
					t.Errorf("%.60q: %s, want no number", x, got.String)
				}
			case !got.Valid:
				t.Errorf("%.60q: no number, want %g", x, want)
			default:
				g, err := strconv.ParseFloat(got.String, 64)
				if err != nil || g != want || math.Signbit(g) != math.Signbit(want) {
					t.Errorf("%.60q: %s, want %g", x, got.String, want)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != len(texts) {
			t.Fatalf("%d answers for %d texts", n, len(texts))
		}
	}
	check(t, t.Context(), testStore.db)
	// A parallel plan: the function runs in the workers and in the leader, in parallel mode.
	err := testStore.db.RunInTx(t.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SET LOCAL force_parallel_mode = on"); err != nil {
			return err
		}
		check(t, ctx, tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A database whose default rounds float8 text (extra_float_digits = 0) must not round the
// store's: cursors and group counts carry float8 values as text.
func TestFloat8TextIsExactWhateverTheDefault(t *testing.T) {
	dsn, drop, err := storetest.CreateDatabase("panels_float_digits")
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	admin, err := Open(dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.db.ExecContext(t.Context(), "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET extra_float_digits = 0', current_database()); END $$"); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	st, err := Open(dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got string
	if err := st.db.QueryRowContext(t.Context(), "SELECT (0.1::float8 + 0.2::float8)::text").Scan(&got); err != nil {
		t.Fatal(err)
	}
	a, b := 0.1, 0.2 // variables: constants would add exactly, to 0.3
	if want := strconv.FormatFloat(a+b, 'g', -1, 64); got != want {
		t.Errorf("float8 text %s, want %s", got, want)
	}
}
