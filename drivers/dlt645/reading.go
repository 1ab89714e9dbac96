package dlt645

import (
	"fmt"
)

// Value is one decoded reply: a contract field of a meter.
type Value struct {
	Address string  // as on the nameplate, most significant digit first
	Edition int     // 2007 or 1997
	DI      uint32  // data identifier (1997: the 2-byte one)
	Field   string  // energy_kwh, forward_energy_kwh or voltage_v
	Value   float64 // kWh or V
}

// DecodeValue decodes a meter's reply to a read. Requests give ErrRequest;
// error replies give a *MeterError; replies with a data identifier that has
// no contract field give an error naming it.
func DecodeValue(f *Frame) (Value, error) {
	if !f.IsReply() {
		return Value{}, ErrRequest
	}
	v := Value{Address: f.Address()}
	switch f.Control & funcMask {
	case func2007Read:
		v.Edition = 2007
	case func1997Read:
		v.Edition = 1997
	default:
		return Value{}, fmt.Errorf("reply C=%02X from meter %s is not a read reply; not decoded", f.Control, v.Address)
	}
	if f.Control&ctrlAbnormal != 0 {
		if len(f.Data) < 1 {
			return Value{}, fmt.Errorf("error reply C=%02X from meter %s without an error byte", f.Control, v.Address)
		}
		return Value{}, &MeterError{Address: v.Address, Edition: v.Edition, Code: f.Data[0]}
	}
	var it item
	var rest []byte
	if v.Edition == 2007 {
		if len(f.Data) < 4 {
			return Value{}, fmt.Errorf("reply with %d data bytes, no 4-byte DI", len(f.Data))
		}
		v.DI = uint32(f.Data[0]) | uint32(f.Data[1])<<8 | uint32(f.Data[2])<<16 | uint32(f.Data[3])<<24
		var ok bool
		if it, ok = items2007[v.DI]; !ok {
			return Value{}, fmt.Errorf("DI %08X %sis not mapped to a reading field; not decoded", v.DI, nameSuffix(unmapped[v.DI]))
		}
		rest = f.Data[4:]
	} else {
		if len(f.Data) < 2 {
			return Value{}, fmt.Errorf("reply with %d data bytes, no 2-byte DI", len(f.Data))
		}
		di := uint16(f.Data[0]) | uint16(f.Data[1])<<8
		v.DI = uint32(di)
		var ok bool
		if it, ok = items1997[di]; !ok {
			return Value{}, fmt.Errorf("DL/T 645-1997 DI %04X %sis not mapped to a reading field; not decoded", di, nameSuffix(unmapped97[di]))
		}
		rest = f.Data[2:]
	}
	x, err := it.decode(rest)
	if err != nil {
		return Value{}, err
	}
	v.Field, v.Value = it.field, x
	return v, nil
}

func nameSuffix(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ") "
}
