package postgres

import (
	"strings"
	"testing"
)

// TestCheckURLQuotesNoPassword: alarmd check prints CheckURL's reason, and
// pgx's reasons quote pieces of the URL it could not read (a query pair
// without '=', a value that is not a number). A password written in the
// query with an unescaped '&' (?password=pg-pass&s3cret) came back as
// `missing key/value separator "=" in URI query parameter: "s3cret"`.
// No database is needed: CheckURL does not connect.
func TestCheckURLQuotesNoPassword(t *testing.T) {
	for _, u := range []string{
		"postgres://anxin@db/anxin?password=pg-pass&s3cret",
		"postgres://anxin@db/anxin?sslmode=require&password=pg-pass&s3cret",
		"postgres://anxin:5432/pg-pass s3cret@db/anxin",
		"postgres://anxin@db/anxin?connect_timeout=s3cret",
	} {
		err := CheckURL(u)
		if err == nil {
			t.Errorf("%s accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the reason quotes the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "is not a PostgreSQL URL") {
			t.Errorf("reason: %v", err)
		}
	}
}
