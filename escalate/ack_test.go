package escalate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/escalate"
)

func TestAckTokenRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	c := escalate.AckClaims{AlarmID: "01JDX3ABCDEFGHJKMNPQRSTVWX", Step: 5, PhoneTag: [4]byte{1, 2, 3, 4}, Expires: now.Add(24 * time.Hour)}
	tok, err := escalate.NewAckToken(ackSecret, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > 90 || strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is long or not URL-safe", tok)
	}
	got, err := escalate.ParseAckToken(ackSecret, tok, now)
	if err != nil || got != c {
		t.Fatalf("parse: %+v %v", got, err)
	}
	if _, err := escalate.ParseAckToken(ackSecret, tok, c.Expires); err != escalate.ErrTokenExpired {
		t.Fatalf("at expiry: %v", err)
	}
	if _, err := escalate.ParseAckToken([]byte("another secret of 32 bytes......"), tok, now); err != escalate.ErrTokenInvalid {
		t.Fatalf("other key: %v", err)
	}
	// flipping any character breaks it
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 1
		if _, err := escalate.ParseAckToken(ackSecret, string(b), now); err == nil {
			t.Fatalf("token with byte %d flipped accepted", i)
		}
	}
}

func FuzzAckToken(f *testing.F) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	good, _ := escalate.NewAckToken(ackSecret, escalate.AckClaims{AlarmID: "01ALARM", Step: 1, Expires: now.Add(time.Hour)})
	f.Add(good)
	f.Add("")
	f.Add(".")
	f.Add("AQAAAAA.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := escalate.ParseAckToken(ackSecret, tok, now)
		if err != nil {
			return
		}
		// whatever parses was signed by us: re-signing gives the same token
		again, err := escalate.NewAckToken(ackSecret, c)
		if err != nil || again != tok {
			t.Fatalf("parsed %q as %+v, which signs as %q (%v)", tok, c, again, err)
		}
	})
}
