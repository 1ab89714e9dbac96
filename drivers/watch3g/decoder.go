package watch3g

import (
	"io"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

// decoder reads a captured watch byte stream for `gatewayd decode`.
type decoder struct{ env drivers.Env }

// Decode emits a reading per position or health frame and an event per AL
// alarm bit, with device = the watch's ID field.
func (d *decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	onFail := func(off int64, err error) { fail(drivers.DecodeError{Offset: off, Err: err}) }
	return tcpserver.ScanReader(r, Framing, func(off int64, b []byte) {
		f, err := Parse(b)
		if err != nil {
			onFail(off, err)
			return
		}
		tg := tcpserver.Target{Household: d.env.Household, Device: f.ID, Kind: anxin.KindTracker}
		ms, err := messages(tg, f, d.env.Now(), false)
		if err != nil {
			onFail(off, err)
			return
		}
		for _, m := range ms {
			emit(m)
		}
	}, onFail)
}
