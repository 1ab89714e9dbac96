package jt808

import (
	"errors"
	"io"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

// decoder reads a captured JT/T 808 byte stream for `gatewayd decode`.
type decoder struct {
	cfg *Config
	dir tcpserver.Directory // with --config: a listed terminal's model picks its vendor profile
	env drivers.Env
}

// maxTracked bounds the alarm states a capture decode keeps.
const maxTracked = 100000

// Decode emits a reading per position (0x0200, each item of 0x0704) and an
// event per rising alarm bit, with device = the terminal phone as sent.
// Other messages (registration, heartbeat, platform frames) print nothing.
func (d *decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	states := map[string]*alarmState{}
	onFail := func(off int64, err error) { fail(drivers.DecodeError{Offset: off, Err: err}) }
	onFrame := func(off int64, b []byte) {
		p, err := Parse(b)
		if err != nil {
			onFail(off, err)
			return
		}
		if p.MsgID != MsgLocation && p.MsgID != MsgLocationBatch {
			return
		}
		if p.Total > 1 {
			onFail(off, errors.New("sub-packets of positions are not reassembled in captures"))
			return
		}
		st := states[p.Phone]
		if st == nil {
			if len(states) >= maxTracked {
				clear(states)
			}
			st = &alarmState{}
			states[p.Phone] = st
		}
		tg := tcpserver.Target{Household: d.env.Household, Device: p.Phone, Kind: anxin.KindTracker}
		known, _ := d.dir.Lookup(p.Phone)
		ms, _, err := d.cfg.vendorOf(known.Model).reports(tg, p, st, d.env.Now(), false)
		if err != nil {
			onFail(off, err)
			return
		}
		for _, m := range ms {
			emit(m)
		}
	}
	return tcpserver.ScanReader(r, Framing, onFrame, onFail)
}
