package sqlaudit

import (
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/uptrace/bun"
)

// Hook records every statement run through the Bun handles it is installed on. Install it on
// every store a test package opens (store tests: the package's store; server tests: through
// Config.QueryHooks); Finish then checks what it saw.
var Hook bun.QueryHook = hook{}

type hook struct{}

type entry struct {
	sql      string   // the first statement seen with this shape and caller
	fn       string   // the service function that ran it (closures folded into their function)
	callers  []string // up to 4 frames of service code, innermost first
	testOnly bool     // issued from test code directly: not the service's statement
	count    int
}

var rec struct {
	sync.Mutex
	seen map[[2]string]*entry // normalized statement, caller function
}

func (hook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (hook) AfterQuery(_ context.Context, ev *bun.QueryEvent) {
	fn, callers, testOnly := caller()
	key := [2]string{normalize(ev.Query), fn}
	rec.Lock()
	defer rec.Unlock()
	if rec.seen == nil {
		rec.seen = map[[2]string]*entry{}
	}
	e := rec.seen[key]
	if e == nil {
		e = &entry{sql: ev.Query, fn: fn, callers: callers, testOnly: testOnly}
		rec.seen[key] = e
	}
	e.count++
}

const module = "github.com/panels/panels/"

var closure = regexp.MustCompile(`(\.func\d+)+(\.\d+)*$`)

// root is the module's directory, trimmed from file names in reports.
var root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return strings.TrimSuffix(file, "store/sqlaudit/record.go")
}()

// funcKey names a function stably: closures fold into their function, and a closure inlined into
// another function ("store.TestX.(*Store).M.func3") is named by its own method.
// The package is the one of the file the frame is in.
func funcKey(name, file string) string {
	name = closure.ReplaceAllString(name, "")
	_, rest, _ := strings.Cut(name, ".")
	if i := strings.LastIndex(rest, "(*"); i > 0 {
		rest = rest[i:]
	}
	return path.Base(path.Dir(file)) + "." + rest
}

// caller finds the service code that ran the statement: the first frame in this module outside
// this package.
func caller() (fn string, callers []string, testOnly bool) {
	pcs := make([]uintptr, 48)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, module) && !strings.HasPrefix(f.Function, module+"store/sqlaudit.") {
			name := strings.TrimPrefix(f.Function, module)
			if fn == "" {
				fn = funcKey(name, f.File)
				testOnly = strings.HasSuffix(f.File, "_test.go")
			}
			if len(callers) < 4 {
				file := strings.TrimPrefix(f.File, root)
				callers = append(callers, fmt.Sprintf("%s (%s:%d)", name, file, f.Line))
			}
		}
		if !more || len(callers) >= 4 {
			break
		}
	}
	if fn == "" {
		fn = "?"
	}
	return fn, callers, testOnly
}

// result is what Finish found.
type result struct {
	Distinct, Service, Tenant int // distinct statement shapes; of them run by service code; of those, touching tenant tables
	Violations                []string
	AllowedUsed               int // (statement shape, caller) pairs that only the allow-list let through
}

// checkStatement everything recorded so far.
func auditRecorded() result {
	rec.Lock()
	defer rec.Unlock()
	var r result
	shapes, service, tenant := map[string]bool{}, map[string]bool{}, map[string]bool{}
	groups := map[string]*group{}
	for key, e := range rec.seen {
		shapes[key[0]] = true
		if e.testOnly {
			continue
		}
		service[key[0]] = true
		vs := checkStatement(e.sql)
		if len(vs) > 0 || touches(e.sql) {
			tenant[key[0]] = true
		}
		for _, v := range vs {
			k := e.fn + " " + v.Table
			if _, ok := allowed[k]; ok {
				r.AllowedUsed++
				continue
			}
			what := fmt.Sprintf("%s (alias %s) read or written without a tenant_id predicate", v.Table, v.Alias)
			if v.Insert {
				what = fmt.Sprintf("INSERT INTO %s without a tenant_id column", v.Table)
			}
			g := groups[k]
			if g == nil {
				g = &group{shapes: map[string]bool{}, text: fmt.Sprintf("%s: %s\n    allow-list key: %q\n    callers: %s\n    SQL: %s",
					e.fn, what, k, strings.Join(e.callers, " <- "), e.sql)}
				groups[k] = g
			}
			g.shapes[key[0]] = true
		}
	}
	for _, g := range groups {
		r.Violations = append(r.Violations, fmt.Sprintf("%s\n    (%d statement shapes)", g.text, len(g.shapes)))
	}
	r.Distinct, r.Service, r.Tenant = len(shapes), len(service), len(tenant)
	sort.Strings(r.Violations)
	return r
}

type group struct {
	shapes map[string]bool
	text   string
}

func touches(sql string) bool {
	for _, t := range tokenize(sql) {
		if t.kind == tIdent && tenantTables[t.text] {
			return true
		}
	}
	return false
}

// Finish is for TestMain after m.Run: it prints the audit's figures and the offending statements
// to w, and turns a passing exit code into a failing one when there are any.
func Finish(code int, w io.Writer) int {
	r := auditRecorded()
	fmt.Fprintf(w, "sqlaudit: %d distinct statements, %d run by service code, %d of them touch tenant tables; %d allow-listed, %d unscoped\n",
		r.Distinct, r.Service, r.Tenant, r.AllowedUsed, len(r.Violations))
	if len(r.Violations) == 0 {
		return code
	}
	fmt.Fprintf(w, "sqlaudit: FAIL: statements on tenant tables without a tenant_id predicate (README \"Tenant scoping\"):\n")
	for _, v := range r.Violations {
		fmt.Fprintln(w, "  "+v)
	}
	if code == 0 {
		code = 1
	}
	return code
}
