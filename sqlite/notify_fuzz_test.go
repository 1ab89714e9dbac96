package sqlite

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// A register notification's payload comes from the database (anyone who
// may NOTIFY the channel): decoding never panics, anything not a notice
// is "all", and a notice this package wrote reads back as written.
func FuzzDecodeRegisterNotice(f *testing.F) {
	f.Add(`{"from":"ab12","households":["hh-1"]}`)
	f.Add(`{"from":"ab12","elders":["e1","e2"],"households":["hh-1","hh-2"]}`)
	f.Add(`{"from":"ab12","all":true}`)
	f.Add(`{"from":1}`)
	f.Add(`[]`)
	f.Add(strings.Repeat(`[`, 10000))
	f.Fuzz(func(t *testing.T, payload string) {
		_, c := DecodeRegisterNotice(payload)
		if c.All && (c.Elders != nil || c.Households != nil) {
			t.Fatalf("all with ids: %+v", c)
		}
		// ids taken from the payload, written again
		ids := strings.Split(payload, ",")
		in := RegisterChange{Elders: ids, Households: ids[:len(ids)/2]}
		enc := encodeRegisterNotice("self", in)
		if len(enc) > MaxRegisterNotice {
			t.Fatalf("payload of %d bytes", len(enc))
		}
		from, out := DecodeRegisterNotice(enc)
		if from != "self" {
			t.Fatalf("from %q", from)
		}
		if !out.All && utf8.ValidString(payload) && (!slices.Equal(out.Elders, nonEmpty(in.Elders)) || !slices.Equal(out.Households, nonEmpty(in.Households))) {
			t.Fatalf("%+v read back as %+v", in, out)
		}
	})
}

// nonEmpty is ids as a notice carries them: nil when empty (omitted).
func nonEmpty(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	return ids
}

func TestRegisterNoticeTooLongIsAll(t *testing.T) {
	hs := make([]string, 2000)
	for i := range hs {
		hs[i] = "hh-00000" + string(rune('a'+i%26))
	}
	enc := encodeRegisterNotice("self", RegisterChange{Households: hs})
	if from, c := DecodeRegisterNotice(enc); from != "self" || !c.All || len(enc) > MaxRegisterNotice {
		t.Fatalf("%d households: %d bytes read as %q %+v", len(hs), len(enc), from, c)
	}
	if _, c := DecodeRegisterNotice(strings.Repeat(" ", MaxRegisterNotice+1)); !c.All {
		t.Fatalf("an over-long payload read as %+v", c)
	}
	want := anxin.RegisterChange{Elders: []string{"e1"}, Households: []string{"hh-1"}}
	if _, c := DecodeRegisterNotice(encodeRegisterNotice("x", want)); !slices.Equal(c.Elders, want.Elders) || !slices.Equal(c.Households, want.Households) {
		t.Fatalf("read back %+v", c)
	}
}
