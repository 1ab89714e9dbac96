package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/web"
)

// TestStrangerCannotLockOutAWorkersPhone: five wrong passwords from anyone
// locked an account for 15 minutes, whatever came next — a stranger who
// knows a worker's login (they are names: wangfang) could keep her out of
// the app all night by trying five passwords every quarter of an hour.
// Now a browser the worker signed in on before keeps its own count: the
// account's lock does not hold for it, and five failures there lock that
// browser only.
func TestStrangerCannotLockOutAWorkersPhone(t *testing.T) {
	e := newEnv(t, false)
	phone := e.browser()
	csrf := phone.mustSignIn("wang")
	if code, _, _ := phone.do("POST", "/app/logout", url.Values{"csrf": {csrf}}); code != 303 {
		t.Fatalf("sign-out: %d", code)
	}
	stranger := e.browser()
	for range 5 {
		stranger.signIn("wang", "guess")
		stranger.signIn("li", "guess")
	}
	if _, loc := stranger.signIn("wang", "correct-horse-1"); !strings.Contains(loc, "problem=1") {
		t.Fatalf("the account is not locked for a stranger's browser after 5 failures: %s", loc)
	}
	if code, loc := phone.signIn("wang", "correct-horse-1"); code != 303 || loc != "/app/" {
		t.Fatalf("the worker's own phone was locked out by a stranger's guesses: %d %s", code, loc)
	}
	// the phone's mark is wang's: it does not open li's locked account
	if _, loc := phone.signIn("li", "correct-horse-1"); !strings.Contains(loc, "problem=1") {
		t.Fatalf("wang's phone passed li's lock: %s", loc)
	}
	// a stolen phone guessing is locked out after five failures of its own
	thief := phone
	for range 5 {
		thief.signIn("wang", "guess")
	}
	if _, loc := thief.signIn("wang", "correct-horse-1"); !strings.Contains(loc, "problem=1") {
		t.Fatalf("a known browser's own 5 failures did not lock it: %s", loc)
	}
}

// TestPasswordResetEndsTheBrowserMarks: a reset is what an admin does
// after a worker's phone is lost (it ends the phone's sessions). The
// phone's browser mark outlived it: for 180 days whoever holds the phone
// stayed outside the account's lock, with five guesses a quarter of an
// hour of its own on top of everyone else's, and its failures never
// locked the account. A mark is good only for the password it was
// issued under.
func TestPasswordResetEndsTheBrowserMarks(t *testing.T) {
	e := newEnv(t, false)
	lost := e.browser()
	csrf := lost.mustSignIn("wang")
	if code, _, _ := lost.do("POST", "/app/logout", url.Values{"csrf": {csrf}}); code != 303 {
		t.Fatalf("sign-out: %d", code)
	}
	if err := web.PutAccount(context.Background(), e.db, "wang", "王芳", "善广村", web.RoleWorker, "a-new-password-2", time.Now()); err != nil {
		t.Fatal(err)
	}
	stranger := e.browser()
	for range 5 {
		stranger.signIn("wang", "guess")
	}
	if _, loc := lost.signIn("wang", "a-new-password-2"); !strings.Contains(loc, "problem=1") {
		t.Fatalf("the lost phone's mark of before the reset still passes the account's lock: %s", loc)
	}
}
