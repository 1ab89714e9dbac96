package web

import (
	"net/http"
	"testing"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

// What a worker or operator reads is Mandarin: every attempt status the
// board shows, and every refusal the records API can answer with an
// English message.
func TestBoardAndErrorsSpeakMandarin(t *testing.T) {
	for _, st := range []string{anxin.AttemptSending, anxin.AttemptRetry, anxin.AttemptFailed, "queued", "sent", "delivered",
		"undelivered", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "canceled",
		anxin.AttemptCanceling, anxin.AttemptHangingUp, "something-new"} {
		if n := words.AttemptStatus(st); n == "" || asciiWord.MatchString(n) {
			t.Errorf("status %q shows as %q", st, n)
		}
	}
	for code, status := range statuses {
		if status == http.StatusNotFound {
			continue // its own sentence
		}
		if w := failWords[status]; w == "" || asciiWord.MatchString(w) {
			t.Errorf("a %s refusal (HTTP %d) shows %q", code, status, w)
		}
	}
}
