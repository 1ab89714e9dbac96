package cjt188

import (
	"fmt"

	"github.com/anxin-care/anxin"
)

// Reading is the decoded 901F reply of one meter.
type Reading struct {
	Address    string  // as on the label, most significant digit first
	TotalM3    float64 // current cumulative flow
	ValveKnown bool    // false when the meter reports its valve abnormal
	ValveOpen  bool
	BatteryLow bool
}

// Fields are the reading's contract fields.
func (r Reading) Fields() anxin.Fields {
	f := anxin.Fields{
		"total_m3":    anxin.Num(r.TotalM3),
		"battery_low": anxin.Bool(r.BatteryLow),
	}
	if r.ValveKnown {
		f["valve_open"] = anxin.Bool(r.ValveOpen)
	}
	return f
}

// unitName names the CJ/T 188 unit codes, for error messages.
var unitName = map[byte]string{
	0x01: "J", 0x02: "Wh", 0x05: "kWh", 0x08: "MWh", 0x0A: "MWh×100", 0x0B: "kJ", 0x0E: "MJ",
	0x11: "GJ", 0x13: "GJ×100", 0x14: "W", 0x17: "kW", 0x1A: "MW", 0x29: "L", 0x2C: "m³",
	0x32: "L/h", 0x35: "m³/h",
}

// DecodeReading decodes a meter's reply to a 901F read. A request frame gives
// ErrRequest; other replies give an error saying what they are.
func DecodeReading(f *Frame) (Reading, error) {
	if !f.IsReply() {
		return Reading{}, ErrRequest
	}
	di, ok := f.DI()
	if f.Control&ctrlAbnormal != 0 {
		return Reading{}, fmt.Errorf("meter %s reports a failure (C=%02X, data % X)", f.Address(), f.Control, f.Data)
	}
	if f.Control&0x3F != ctrlRead || !ok || di != 0x901F {
		return Reading{}, fmt.Errorf("reply C=%02X DI %04X from meter %s carries no flow reading; not decoded", f.Control, di, f.Address())
	}
	if len(f.Data) < replyDataLen {
		return Reading{}, fmt.Errorf("901F reply of %d data bytes, want %d", len(f.Data), replyDataLen)
	}
	v, err := unbcd(f.Data[3:7])
	if err != nil {
		return Reading{}, fmt.Errorf("cumulative flow: %w", err)
	}
	var total float64 // one division, so that 1000.10 is 1000.1 exactly as printed
	switch u := f.Data[7]; u {
	case unitM3:
		total = float64(v) / 100
	case unitLitre:
		total = float64(v) / 100000
	default:
		name, known := unitName[u]
		if !known {
			name = "unknown"
		}
		return Reading{}, fmt.Errorf("cumulative flow unit %02X (%s) is not a volume", u, name)
	}
	st0 := f.Data[20]
	r := Reading{Address: f.Address(), TotalM3: total, BatteryLow: st0&0x04 != 0}
	switch st0 & 0x03 {
	case 0x00:
		r.ValveKnown, r.ValveOpen = true, true
	case 0x01:
		r.ValveKnown = true
	}
	return r, nil
}
