package web

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// AccountWriter stores accounts (anxin.AccountStore).
type AccountWriter interface {
	PutAccount(ctx context.Context, a anxin.Account, now time.Time) error
}

var loginRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)

// numberLike is a login that is a number (a phone or resident ID number:
// digits, the ID's last one may be X).
var numberLike = regexp.MustCompile(`^[0-9]+[Xx]?$`)

// PutAccount checks and stores an account with password hashed (argon2id);
// an existing login is replaced and unlocked.
func PutAccount(ctx context.Context, w AccountWriter, login, name, area, role, password string, now time.Time) error {
	name = strings.TrimSpace(name)
	switch {
	case !loginRE.MatchString(login):
		return anxin.Errorf(anxin.EINVALID, "login must be 1-64 letters, digits or _.@-")
	case numberLike.MatchString(login):
		// the login is in every request's log line and the audit log
		return anxin.Errorf(anxin.EINVALID, "login must not be a phone or ID number (it is written to the logs): use letters, e.g. wangfang")
	case name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 32:
		return anxin.Errorf(anxin.EINVALID, "name must be 1-32 characters")
	case !ValidRole(role):
		return anxin.Errorf(anxin.EINVALID, "role must be worker, operator or admin")
	case role == RoleWorker && strings.TrimSpace(area) == "":
		// the area flag forgotten must not open the whole district's register
		return anxin.Errorf(anxin.EINVALID, "a worker needs an area (-area 善广村, 屏山街道/善广村 or 屏山街道/*); only operators and admins may have the whole district")
	}
	if _, err := anxin.ParseArea(area); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return anxin.Errorf(anxin.EINVALID, "%s", err.Error())
	}
	return w.PutAccount(ctx, anxin.Account{Login: login, Name: name, Area: area, Role: role, Hash: hash}, now)
}
