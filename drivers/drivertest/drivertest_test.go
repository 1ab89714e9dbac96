package drivertest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

func TestRefuseOnceRefusesTheFirstMatchOnly(t *testing.T) {
	var got []string
	next := drivers.SinkFunc(func(_ context.Context, m anxin.Message) error {
		got = append(got, m.Device)
		return nil
	})
	sink := RefuseOnce(next, func(m anxin.Message) bool { return m.Device == "b" })
	var refused []string
	for _, dev := range []string{"a", "b", "b", "a", "b"} {
		if err := sink.Put(t.Context(), anxin.Message{Device: dev}); errors.Is(err, ErrDiskFull) {
			refused = append(refused, dev)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if len(refused) != 1 || refused[0] != "b" {
		t.Errorf("refused %v, want [b]", refused)
	}
	if want := "[a b a b]"; fmt.Sprint(got) != want {
		t.Errorf("passed on %v, want %s", got, want)
	}

	first := RefuseOnce(next, nil)
	if err := first.Put(t.Context(), anxin.Message{Device: "c"}); !errors.Is(err, ErrDiskFull) {
		t.Errorf("nil match: the first message got %v, want ErrDiskFull", err)
	}
	if err := first.Put(t.Context(), anxin.Message{Device: "c"}); err != nil {
		t.Errorf("nil match: the second message got %v", err)
	}
}
