package alarmd

import (
	"strings"
	"testing"
)

// TestStoreURLPasswordWithReservedCharacters: pgx reads a postgres:// URL as
// libpq does, where only a '/' ends the search for the '@' closing the user
// and password, so a password holding '?' or '#' (generated passwords often
// do) connects. alarmd check must not refuse such a store.url that worked
// before the port check, nor quote any part of the password.
func TestStoreURLPasswordWithReservedCharacters(t *testing.T) {
	for _, u := range []string{
		"postgres://anxin:pg-pass?s3cret@db.example.org:5432/anxin",
		"postgres://anxin:pg-pass#s3cret@db.example.org:5432/anxin",
		"postgres://anxin:pg-pass?s3cret@db.example.org/anxin?sslmode=disable",
		"postgresql://anxin:pg-pass#s3cret@[::1]:5432/anxin",
	} {
		if _, err := Parse([]byte("store: {url: '"+u+"'}"), nil); err != nil {
			t.Errorf("%s refused:\n%s\n%v", strings.ReplaceAll(u, "pg-pass", "xxxxx"), ConfigErrorText(err, AtCheck), err)
		}
	}
}
