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

// TestURLPasswordWithReservedCharactersNotShown: a URL key whose password
// holds '#' or '?' does not parse (url.Parse ends the authority there); the
// Mandarin and English lines quoting it must still hide the password.
func TestURLPasswordWithReservedCharactersNotShown(t *testing.T) {
	for _, body := range []string{
		"influx: {url: 'http://127.0.0.1:8428', query_url: 'http://vm:pg-pass#s3cret@vm:8428'}",
		"influx: {url: 'http://127.0.0.1:8428', query_url: 'http://vm:pg-pass?s3cret@vm:8428'}",
		"http: {public_url: 'https://admin:hunter2#s3cret@alarm.example.org'}",
		"mqtt: {broker: 'tcp://anxin:hunter2#s3cret@127.0.0.1:1883'}",
	} {
		_, err := Parse([]byte(body), nil)
		if err == nil {
			t.Errorf("%s accepted", body)
			continue
		}
		zh, en := ConfigErrorText(err, AtCheck), err.Error()
		if strings.Contains(zh, "s3cret") || strings.Contains(en, "s3cret") {
			t.Errorf("the password is shown:\n%s\n%s", zh, en)
		}
	}
}
