// Package modbus polls Modbus RTU devices on a serial bus with
// github.com/simonvetter/modbus: meters with a register map in config (byte
// and word order, scale) become readings, wired detectors on discrete
// inputs become smoke/gas/water_leak events and their _clear events.
package modbus

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// Register formats, orders and types of the register map.
const (
	TypeHolding = "holding"
	TypeInput   = "input"

	FormatUint16  = "uint16"
	FormatInt16   = "int16"
	FormatUint32  = "uint32"
	FormatInt32   = "int32"
	FormatFloat32 = "float32"

	BigEndian    = "big"
	LittleEndian = "little"
	HighFirst    = "high_first"
	LowFirst     = "low_first"
)

// Register maps one value of a device to a reading field.
type Register struct {
	Name     string  `mapstructure:"name" yaml:"name"`             // field name, e.g. energy_kwh
	Register uint16  `mapstructure:"register" yaml:"register"`     // first register address (0-based, as on the wire)
	Type     string  `mapstructure:"type" yaml:"type"`             // holding | input
	Format   string  `mapstructure:"format" yaml:"format"`         // uint16 | int16 | uint32 | int32 | float32
	Byte     string  `mapstructure:"byte_order" yaml:"byte_order"` // big (standard) | little: bytes within a register
	Word     string  `mapstructure:"word_order" yaml:"word_order"` // high_first (standard) | low_first: registers of a 32-bit value
	Scale    float64 `mapstructure:"scale" yaml:"scale"`           // value = raw × scale
}

// setDefaults fills holding, big, high_first and scale 1.
func (r *Register) setDefaults() {
	if r.Type == "" {
		r.Type = TypeHolding
	}
	if r.Format == "" {
		r.Format = FormatUint16
	}
	if r.Byte == "" {
		r.Byte = BigEndian
	}
	if r.Word == "" {
		r.Word = HighFirst
	}
	if r.Scale == 0 {
		r.Scale = 1
	}
}

// Count is the number of 16-bit registers the value spans.
func (r *Register) Count() uint16 {
	switch r.Format {
	case FormatUint32, FormatInt32, FormatFloat32:
		return 2
	}
	return 1
}

func (r *Register) validate(key string) error {
	switch {
	case !anxin.ValidID(r.Name):
		return drivers.NotID(key+".name", r.Name)
	case r.Type != TypeHolding && r.Type != TypeInput:
		return drivers.NotChoice(key+".type", r.Type, TypeHolding, TypeInput)
	case r.Byte != BigEndian && r.Byte != LittleEndian:
		return drivers.NotChoice(key+".byte_order", r.Byte, BigEndian, LittleEndian)
	case r.Word != HighFirst && r.Word != LowFirst:
		return drivers.NotChoice(key+".word_order", r.Word, HighFirst, LowFirst)
	case math.IsNaN(r.Scale) || math.IsInf(r.Scale, 0) || r.Scale == 0:
		return drivers.Because(key+".scale", drivers.ReasonScaleNumber, "%v must be a finite non-zero number", r.Scale).WithValue(r.Scale)
	case int(r.Register)+int(r.Count()) > 0x10000:
		return drivers.NewConfigError(drivers.ValueOutOfRange, key+".register", "0x%04X + %d registers passes 0xFFFF", r.Register, r.Count()).
			WithValue(r.Register).WithRange(fmt.Sprintf("0..%d", 0x10000-int(r.Count())))
	}
	switch r.Format {
	case FormatUint16, FormatInt16, FormatUint32, FormatInt32, FormatFloat32:
	default:
		return drivers.NotChoice(key+".format", r.Format, FormatUint16, FormatInt16, FormatUint32, FormatInt32, FormatFloat32)
	}
	return nil
}

// Decode turns the register bytes as sent on the wire (2 per register) into
// the scaled value.
func (r *Register) Decode(wire []byte) (float64, error) {
	n := int(r.Count())
	if len(wire) != 2*n {
		return 0, fmt.Errorf("%s: %d bytes, want %d", r.Name, len(wire), 2*n)
	}
	var regs [2]uint32
	for i := 0; i < n; i++ {
		w := binary.BigEndian.Uint16(wire[2*i:])
		if r.Byte == LittleEndian {
			w = w>>8 | w<<8
		}
		regs[i] = uint32(w)
	}
	var v float64
	switch r.Format {
	case FormatUint16:
		v = float64(regs[0])
	case FormatInt16:
		v = float64(int16(regs[0]))
	default:
		u := regs[0]<<16 | regs[1]
		if r.Word == LowFirst {
			u = regs[1]<<16 | regs[0]
		}
		switch r.Format {
		case FormatUint32:
			v = float64(u)
		case FormatInt32:
			v = float64(int32(u))
		case FormatFloat32:
			f := math.Float32frombits(u)
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return 0, fmt.Errorf("%s: float32 %08X is not a finite number", r.Name, u)
			}
			v = float64(f)
		}
	}
	return v * r.Scale, nil
}

// Encode is Decode's inverse for tests and simulators: the wire bytes of a
// raw (unscaled) value.
func (r *Register) Encode(raw float64) []byte {
	var u uint32
	if r.Format != FormatFloat32 {
		raw = math.Round(raw)
	}
	switch r.Format {
	case FormatUint16, FormatUint32:
		u = uint32(raw)
	case FormatInt16:
		u = uint32(uint16(int16(raw)))
	case FormatInt32:
		u = uint32(int32(raw))
	case FormatFloat32:
		u = math.Float32bits(float32(raw))
	}
	var regs []uint16
	if r.Count() == 1 {
		regs = []uint16{uint16(u)}
	} else if r.Word == LowFirst {
		regs = []uint16{uint16(u), uint16(u >> 16)}
	} else {
		regs = []uint16{uint16(u >> 16), uint16(u)}
	}
	out := make([]byte, 0, 4)
	for _, w := range regs {
		if r.Byte == LittleEndian {
			w = w>>8 | w<<8
		}
		out = binary.BigEndian.AppendUint16(out, w)
	}
	return out
}
