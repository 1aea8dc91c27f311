// Command configdoc writes README.md's configuration table from the settings table of package
// config; with -check it only fails when the README's table is stale, as `make check-generate` does.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/panels/panels/server/config"
)

func main() {
	check := flag.Bool("check", false, "fail when the file's table differs from the settings table, without writing it")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "Usage: configdoc [-check] README.md")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *check); err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}

func run(path string, check bool) error {
	old, err := os.ReadFile(path) //nolint:gosec // the path is the README the developer (or the Makefile) names
	if err != nil {
		return err
	}
	updated, err := config.UpdateReadme(old)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case bytes.Equal(old, updated):
		return nil
	case check:
		return fmt.Errorf("%s's configuration table is stale: run 'make config-docs' and commit the result", path)
	}
	return os.WriteFile(path, updated, 0o644) //nolint:gosec // a checked-in README is world-readable like every other file of the repository
}
