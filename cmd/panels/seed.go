package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/panels/panels/server/config"
	"github.com/panels/panels/store"
)

func seedCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenant := fs.String("tenant", "demo", "tenant to seed")
	user := fs.String("user", "dev", "user id owning the demo panel")
	email := fs.String("email", "dev@example.com", "that user's email")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: panels seed [--tenant demo] [--user dev] [--email dev@example.com]\n\nCreates a demo panel with a data source, base columns and a calculated column.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	dsn, err := config.DatabaseURL(getenv)
	if err != nil {
		return err
	}
	st, err := store.Open(dsn, store.Options{MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	a := store.Actor{TenantID: *tenant, UserID: *user, Email: *email, Admin: true}
	desc := "Patients due for an HbA1c check"
	p := &store.Panel{Name: "Diabetes follow-up", Description: &desc}
	if err := st.CreatePanel(ctx, a, p); err != nil {
		return err
	}
	ds := &store.DataSource{Type: "api", Config: map[string]any{"endpoint": "/api/patients", "method": "GET"}}
	if err := st.CreateDataSource(ctx, a, p.ID, ds); err != nil {
		return err
	}
	for i, c := range []struct{ name, typ, field string }{
		{"First Name", "text", "first_name"}, {"Last Name", "text", "last_name"},
		{"Email Address", "text", "email"}, {"Created Date", "date", "created_at"},
	} {
		sf := c.field
		col := &store.Column{Name: c.name, Type: c.typ, SourceField: &sf, DataSourceID: &ds.ID,
			Properties: map[string]any{"display": map[string]any{"visible": true, "order": i}}}
		if _, err := st.CreateColumn(ctx, a, p.ID, col, nil); err != nil {
			return err
		}
	}
	for i, c := range []struct{ name, typ, formula string }{
		{"Full Name", "text", `CONCAT(first_name, " ", last_name)`},
		{"Age In Days", "number", `DATEDIFF(NOW(), [Created Date])`},
	} {
		col := &store.Column{Name: c.name, Type: c.typ, Properties: map[string]any{"display": map[string]any{"visible": true, "order": 4 + i}}}
		if _, err := st.CreateColumn(ctx, a, p.ID, col, &store.FormulaInput{Source: c.formula}); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "seeded tenant %q: panel %d with data source %d and 6 columns\n", *tenant, p.ID, ds.ID)
	return nil
}
