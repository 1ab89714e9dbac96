package web

import (
	"io/fs"
	"testing"
)

// The pages are parsed on first use (pages), not at start: this parses every
// one, so a template that does not parse fails here and not in a person's
// browser.
func TestPagesParse(t *testing.T) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	got := parsePages()
	if len(got) != len(names)-2 { // layout.html and parts.html are in every page
		t.Fatalf("%d pages parsed from %d files", len(got), len(names))
	}
	for n, p := range got {
		if p == nil || p.Lookup("layout.html") == nil {
			t.Errorf("%s: not parsed with the layout", n)
		}
	}
}
