package modbus

import (
	"bytes"
	"testing"
)

func TestSimulatorReplies(t *testing.T) {
	s := NewSimulator()
	energy := Register{Name: "energy_kwh", Register: 4, Format: FormatUint32, Word: LowFirst, Scale: 0.01}
	s.SetValue(1, energy, 123456)
	s.SetInput(2, 1, true)
	read := func(unit, fc byte, addr, qty uint16) []byte {
		return AppendCRC([]byte{unit, fc, byte(addr >> 8), byte(addr), byte(qty >> 8), byte(qty)})
	}
	got, ok := s.Reply(read(1, 3, 4, 2))
	if !ok {
		t.Fatal("no reply to a holding-register read")
	}
	f, n, _ := splitFrame(got)
	if n != len(got) || f.Function != 3 || f.Data[0] != 4 {
		t.Fatalf("reply % X", got)
	}
	energy.setDefaults()
	if v, err := energy.Decode(f.Data[1:]); err != nil || v != 1234.56 {
		t.Errorf("decoded %v %v, want 1234.56", v, err)
	}
	if got, ok := s.Reply(read(1, 3, 100, 1)); !ok || !bytes.Equal(got, AppendCRC([]byte{1, 0x83, 2})) {
		t.Errorf("unknown register: % X, want an illegal-data-address exception", got)
	}
	if _, ok := s.Reply(read(7, 3, 4, 2)); ok {
		t.Error("a unit that is not on the line answered")
	}
	if got, ok := s.Reply(read(2, 2, 0, 3)); !ok || !bytes.Equal(got, AppendCRC([]byte{2, 2, 1, 0b010})) {
		t.Errorf("discrete inputs: % X", got)
	}
	if _, ok := s.Reply(read(1, 3, 4, 2)[:7]); ok {
		t.Error("answered a truncated request")
	}
	if s.Requests() != 4 {
		t.Errorf("%d requests counted, want 4", s.Requests())
	}
}
