package server_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// coverageExceptionsFile lists the documented (operation, status) pairs no test observes, each
// with its reason.
const coverageExceptionsFile = "testdata/coverage-exceptions.yaml"

// crossCuttingStatuses may be excused once for every operation, because middleware answers them
// the same way whatever the operation.
var crossCuttingStatuses = []int{401, 413, 415, 429, 503}

type coverageExceptions struct {
	// CrossCutting excuses a status on every operation, provided some test observes it on at
	// least one operation of each method that documents it.
	CrossCutting map[int]string `yaml:"crossCutting"`
	Pairs        []struct {
		Operation string `yaml:"operation"`
		Status    int    `yaml:"status"`
		Reason    string `yaml:"reason"`
	} `yaml:"pairs"`
}

// wholeSuiteRan tells whether every test of the package ran: coverage means nothing otherwise.
func wholeSuiteRan() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return !testing.Short()
}

// checkResponseCoverage runs after every test of the package (from TestMain): it fails when a
// status the spec documents for an operation was never observed by the validating transport,
// unless coverage-exceptions.yaml excuses it. It returns the exit code to use.
func checkResponseCoverage(code int) int {
	if !wholeSuiteRan() {
		return code
	}
	problems, summary := responseCoverage()
	fmt.Println(summary)
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: response coverage (%s):\n  %s\n", coverageExceptionsFile, strings.Join(problems, "\n  "))
		return 1
	}
	return code
}

func responseCoverage() (problems []string, summary string) {
	var exc coverageExceptions
	data, err := os.ReadFile(coverageExceptionsFile)
	if err != nil {
		return []string{err.Error()}, ""
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&exc); err != nil {
		return []string{fmt.Sprintf("%s: %v", coverageExceptionsFile, err)}, ""
	}

	observed.Lock()
	defer observed.Unlock()
	type pair struct {
		op     string
		status int
	}
	documented := map[pair]string{} // → method
	methodsOf := map[int]map[string]bool{}
	for _, item := range env.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				status, err := strconv.Atoi(code)
				if err != nil {
					continue // "default" or a range: nothing to observe exactly
				}
				documented[pair{opName(op.OperationID), status}] = method
				if methodsOf[status] == nil {
					methodsOf[status] = map[string]bool{}
				}
				methodsOf[status][method] = true
			}
		}
	}
	seenPairs := map[pair]bool{}
	for op, statuses := range observed.pairs {
		for status, n := range statuses {
			seenPairs[pair{opName(op), status}] = n > 0
		}
	}
	seen := func(p pair) bool { return seenPairs[p] }

	for status, reason := range exc.CrossCutting {
		if !slices.Contains(crossCuttingStatuses, status) {
			problems = append(problems, fmt.Sprintf("crossCutting %d: only %v may be excused for every operation", status, crossCuttingStatuses))
		}
		if strings.TrimSpace(reason) == "" {
			problems = append(problems, fmt.Sprintf("crossCutting %d: give the reason", status))
		}
		// Excused everywhere only if seen on some operation of each method that documents it.
		seenOn := map[string]string{}
		for p, method := range documented {
			if p.status == status && seen(p) {
				seenOn[method] = p.op
			}
		}
		for method := range methodsOf[status] {
			if seenOn[method] == "" {
				problems = append(problems, fmt.Sprintf("crossCutting %d is excused only when a test observes it on one %s operation: none did", status, method))
			}
		}
	}
	listed := map[pair]bool{}
	for _, e := range exc.Pairs {
		p := pair{e.Operation, e.Status}
		switch {
		case strings.TrimSpace(e.Reason) == "":
			problems = append(problems, fmt.Sprintf("exception %s %d: give the reason", e.Operation, e.Status))
		case documented[p] == "":
			problems = append(problems, fmt.Sprintf("exception %s %d: the spec documents no such pair; remove it", e.Operation, e.Status))
		}
		listed[p] = true
	}

	var missing, stale []string
	covered, excused := 0, 0
	for p := range documented {
		switch {
		case seen(p):
			covered++
			if listed[p] {
				stale = append(stale, fmt.Sprintf("%s %d", p.op, p.status))
			}
		case listed[p] || exc.CrossCutting[p.status] != "":
			excused++
		default:
			missing = append(missing, fmt.Sprintf("%-28s %d  (%s)", p.op, p.status, documented[p]))
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	for _, m := range missing {
		problems = append(problems, "never observed: "+m+": add a test that gets it, or list it with a reason")
	}
	summary = fmt.Sprintf("response coverage: %d of %d documented (operation, status) pairs observed, %d excused by %s, %d missing",
		covered, len(documented), excused, coverageExceptionsFile, len(missing))
	if len(stale) > 0 {
		summary += "\nresponse coverage: listed as exceptions but observed in this run (remove them if that holds): " + strings.Join(stale, ", ")
	}
	return problems, summary
}
