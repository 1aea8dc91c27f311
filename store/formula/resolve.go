package formula

import (
	"fmt"
	"strconv"
	"strings"
)

// Problem is one reason a formula (or its dependency list) was rejected.
type Problem struct {
	Ref    string `json:"ref"`    // offending reference or function as written; "" for syntax errors
	Reason string `json:"reason"` // human-readable, safe to show to the user
}

// Error collects every problem found so the user can fix them in one go.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.Ref == "" {
			parts[i] = p.Reason
		} else {
			parts[i] = p.Ref + ": " + p.Reason
		}
	}
	return "formula: " + strings.Join(parts, "; ")
}

// problems accumulates Problems, dropping exact duplicates (a misspelt column
// used three times is one mistake).
type problems struct {
	list []Problem
	seen map[Problem]bool
}

func (ps *problems) add(ref, reason string) {
	p := Problem{Ref: ref, Reason: reason}
	if ps.seen[p] {
		return
	}
	if ps.seen == nil {
		ps.seen = make(map[Problem]bool)
	}
	ps.seen[p] = true
	ps.list = append(ps.list, p)
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Problems: ps.list}
}

// Column is what the resolver knows about a column of the same panel.
type Column struct {
	ID          int64
	Name        string
	SourceField string // base columns only; "" for calculated
	Calculated  bool
	DependsOn   []int64 // for calculated columns: ids their stored formula references
	Formula     string  // for calculated columns: the stored formula (CheckGrowth reads it)
}

// Resolved is a validated formula.
type Resolved struct {
	// Stored is the canonical text (see Format) with every reference written
	// as {id}, so renaming a column never breaks the formula.
	Stored string
	// Dependencies are the distinct referenced column ids in order of first
	// appearance.
	Dependencies []int64
}

// Resolve validates src against the panel's columns for the calculated column
// selfID (0 when the column is being created) and returns its stored form.
//
// Names resolve by exact column name, then case-insensitive column name, then
// exact source field of a base column; the first rule with any match decides,
// and more than one match there is ambiguous. Unknown or ambiguous columns,
// self references, unknown functions, wrong argument counts and dependency
// cycles are all reported together in one *Error.
func Resolve(src string, cols []Column, selfID int64) (Resolved, error) {
	e, err := Parse(src)
	if err != nil {
		return Resolved{}, err
	}
	byID := indexColumns(cols)
	var ps problems
	idOf := make(map[*Ref]int64)
	firstRef := make(map[int64]string) // dependency id -> how it was first written
	var deps []int64

	Walk(e, func(n Expr) bool {
		switch n := n.(type) {
		case *Ref:
			text := refText(n)
			id, reason := n.ID, ""
			if id > 0 {
				if byID[id] == nil {
					reason = "unknown column id"
				}
			} else {
				id, reason = matchName(n.Name, cols)
			}
			switch {
			case reason != "":
				ps.add(text, reason)
			case selfID != 0 && id == selfID:
				ps.add(text, "refers to itself")
			default:
				idOf[n] = id
				if _, ok := firstRef[id]; !ok {
					firstRef[id] = text
					deps = append(deps, id)
				}
			}
		case *Call:
			a, ok := Functions[n.Name]
			if !ok {
				ps.add(n.Name, "unknown function")
			} else if !a.Accepts(len(n.Args)) {
				ps.add(n.Name, fmt.Sprintf("%s expects %s, got %d", n.Name, a, len(n.Args)))
			} else {
				checkArgs(n, &ps)
			}
		}
		return true
	})

	// Only the edited column's dependencies change, so any new cycle must
	// pass through it: search from each direct dependency back to selfID.
	if selfID != 0 {
		for _, d := range deps {
			if path := cyclePath(d, selfID, byID); path != nil {
				names := []string{columnName(selfID, byID)}
				for _, id := range path {
					names = append(names, columnName(id, byID))
				}
				ps.add(firstRef[d], "cycle: "+strings.Join(names, " -> "))
			}
		}
	}
	if err := ps.err(); err != nil {
		return Resolved{}, err
	}
	stored := format(e, func(r *Ref) string { return idText(idOf[r]) })
	return Resolved{Stored: stored, Dependencies: deps}, nil
}

func indexColumns(cols []Column) map[int64]*Column {
	byID := make(map[int64]*Column, len(cols))
	for i := range cols {
		byID[cols[i].ID] = &cols[i]
	}
	return byID
}

func columnName(id int64, byID map[int64]*Column) string {
	if c := byID[id]; c != nil && c.Name != "" {
		return c.Name
	}
	return idText(id)
}

// matchName applies the name resolution rules documented on Resolve and
// returns the column id, or a problem reason.
func matchName(name string, cols []Column) (int64, string) {
	rules := []func(c *Column) bool{
		func(c *Column) bool { return c.Name == name },
		func(c *Column) bool { return strings.EqualFold(c.Name, name) },
		func(c *Column) bool { return !c.Calculated && c.SourceField != "" && c.SourceField == name },
	}
	for _, rule := range rules {
		var ids []string
		var id int64
		for i := range cols {
			if rule(&cols[i]) {
				id = cols[i].ID
				ids = append(ids, idText(id))
			}
		}
		switch len(ids) {
		case 0:
			continue
		case 1:
			return id, ""
		}
		return 0, "ambiguous, use the column id (" + strings.Join(ids, ", ") + ")"
	}
	return 0, "unknown column"
}

// cyclePath does a breadth-first search (shortest path, readable message)
// from start along DependsOn of calculated columns and returns the path
// start..self, or nil when self is unreachable.
func cyclePath(start, self int64, byID map[int64]*Column) []int64 {
	parent := map[int64]int64{}
	visited := map[int64]bool{start: true}
	queue := []int64{start}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		c := byID[id]
		if c == nil || !c.Calculated {
			continue
		}
		for _, d := range c.DependsOn {
			if visited[d] {
				continue
			}
			visited[d], parent[d] = true, id
			if d == self {
				path := []int64{self}
				for x := id; x != start; x = parent[x] {
					path = append(path, x)
				}
				path = append(path, start)
				for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			queue = append(queue, d)
		}
	}
	return nil
}

// Render turns a stored formula back into user text, writing each {id} as
// [Current Name]. An id stays {id} when nameByID has no usable name for it:
// unknown, empty, containing ']', or shared with another entry (the text
// would then not resolve back to the same column).
func Render(stored string, nameByID map[int64]string) (string, error) {
	e, err := Parse(stored)
	if err != nil {
		return "", err
	}
	uses := make(map[string]int, len(nameByID))
	for _, name := range nameByID {
		uses[name]++
	}
	return format(e, func(r *Ref) string {
		if name, ok := nameByID[r.ID]; ok && r.ID > 0 && uses[name] == 1 && bracketable(name) {
			return "[" + name + "]"
		}
		return refText(r)
	}), nil
}

// CheckDependencies verifies a client-sent dependency list (column names or
// source fields, as the original API accepted; {id} is also understood)
// against the resolved formula: every entry must name a dependency and every
// dependency must be named. Order and repetition do not matter.
func CheckDependencies(sent []string, res Resolved, cols []Column) error {
	want := make(map[int64]bool, len(res.Dependencies))
	for _, id := range res.Dependencies {
		want[id] = true
	}
	byID := indexColumns(cols)
	named := make(map[int64]bool)
	var ps problems
	for _, s := range sent {
		id, reason := lookupEntry(s, cols, byID)
		switch {
		case reason != "":
			ps.add(s, reason)
		case !want[id]:
			ps.add(s, "not referenced by the formula")
		default:
			named[id] = true
		}
	}
	for _, id := range res.Dependencies {
		if !named[id] {
			ps.add(columnName(id, byID), "referenced by the formula but missing from dependencies")
		}
	}
	return ps.err()
}

func lookupEntry(s string, cols []Column, byID map[int64]*Column) (int64, string) {
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		if id, err := strconv.ParseInt(s[1:len(s)-1], 10, 64); err == nil && id > 0 {
			if byID[id] == nil {
				return 0, "unknown column id"
			}
			return id, ""
		}
	}
	return matchName(s, cols)
}

// Dependents returns the calculated columns that depend on id directly or
// transitively, each once, nearest first (breadth-first, then column order).
// Deleting column id breaks every one of them.
func Dependents(cols []Column, id int64) []int64 {
	users := make(map[int64][]int64)
	for _, c := range cols {
		if c.Calculated {
			for _, d := range c.DependsOn {
				users[d] = append(users[d], c.ID)
			}
		}
	}
	var out []int64
	seen := map[int64]bool{id: true}
	for queue := []int64{id}; len(queue) > 0; queue = queue[1:] {
		for _, u := range users[queue[0]] {
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
				queue = append(queue, u)
			}
		}
	}
	return out
}
