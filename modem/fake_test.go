package modem_test

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/creack/pty"
	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"
)

// fakeModem plays a GSM modem's AT dialogue on the master side of a
// pseudo-terminal: init, AT+CMGS with its "> " prompt and +CMGS reference,
// ATD with its call progress, and +CMT for incoming SMS.
type fakeModem struct {
	t    testing.TB
	ptmx *os.File
	tty  string

	mu     sync.Mutex
	wmu    sync.Mutex
	ref    int
	dialed chan string // numbers dialled
	sms    chan string // each whole SMS (parts reassembled): "<to> <text>"
	coll   *sms.Collector
	dial   string // what ATD answers: OK (default), BUSY, NO CARRIER
	// failAt: the failAt-th AT+CMGS (counted from 1) is refused with
	// +CMS ERROR 500 (a network refusal midway through a long message)
	failAt, submits int
	// cms, when set, refuses every AT+CMGS with +CMS ERROR: <cms>
	cms string
}

func newFakeModem(t testing.TB) *fakeModem {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeModem{t: t, ptmx: ptmx, tty: tty.Name(), dialed: make(chan string, 100), sms: make(chan string, 10000),
		coll: sms.NewCollector(), dial: "OK"}
	t.Cleanup(func() { _ = ptmx.Close(); _ = tty.Close() })
	go f.serve()
	return f
}

func (f *fakeModem) write(s string) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	_, _ = f.ptmx.WriteString(s)
}

// indicate sends an unsolicited line (RING, NO CARRIER, BUSY).
func (f *fakeModem) indicate(line string) { f.write("\r\n" + line + "\r\n") }

func (f *fakeModem) setDial(answer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dial = answer
}

// deliver plays an incoming SMS from number as +CMT (PDU mode, UCS-2).
func (f *fakeModem) deliver(from, text string) {
	pdus, err := sms.Encode([]byte(text), sms.AsDeliver, sms.From(from))
	if err != nil {
		f.t.Error(err)
		return
	}
	for _, p := range pdus {
		b, err := p.MarshalBinary()
		if err != nil {
			f.t.Error(err)
			return
		}
		h, err := (&pdumode.PDU{TPDU: b}).MarshalHexString()
		if err != nil {
			f.t.Error(err)
			return
		}
		f.write(fmt.Sprintf("\r\n+CMT: ,%d\r\n%s\r\n", len(b), h))
	}
}

func (f *fakeModem) serve() {
	r := bufio.NewReader(f.ptmx)
	for {
		line, err := r.ReadString('\r')
		if err != nil {
			return
		}
		cmd := strings.TrimSpace(line)
		switch {
		case cmd == "":
		case cmd == "AT+GCAP":
			f.write("\r\n+GCAP: +CGSM,+DS\r\n\r\nOK\r\n")
		case strings.HasPrefix(cmd, "AT+CMGS="):
			f.write("\r\n> ")
			pdu, err := r.ReadString(0x1a)
			if err != nil {
				return
			}
			f.submitted(strings.TrimSpace(strings.TrimSuffix(pdu, "\x1a")))
		case strings.HasPrefix(cmd, "ATD"):
			f.mu.Lock()
			answer := f.dial
			f.mu.Unlock()
			f.dialed <- strings.TrimSuffix(strings.TrimPrefix(cmd, "ATD"), ";")
			f.write("\r\n" + answer + "\r\n")
		case strings.HasPrefix(cmd, "AT"):
			f.write("\r\nOK\r\n") // Z, E0, +CMGF=0, +CMEE=1, +CSMS=1, +CNMI=…, +CNMA, H
		}
	}
}

// submitted decodes an AT+CMGS PDU and answers with its reference; the
// parts of a long message are reassembled before the SMS is recorded.
func (f *fakeModem) submitted(hex string) {
	p, err := pdumode.UnmarshalHexString(hex)
	if err != nil {
		f.write("\r\n+CMS ERROR: 304\r\n")
		return
	}
	tp := &tpdu.TPDU{Direction: tpdu.MO} // a submit, from the phone
	if err := tp.UnmarshalBinary(p.TPDU); err != nil {
		f.write("\r\n+CMS ERROR: 304\r\n")
		return
	}
	f.mu.Lock()
	f.submits++
	if f.cms != "" {
		cms := f.cms
		f.mu.Unlock()
		f.write("\r\n+CMS ERROR: " + cms + "\r\n")
		return
	}
	if f.submits == f.failAt {
		f.mu.Unlock()
		f.write("\r\n+CMS ERROR: 500\r\n")
		return
	}
	f.ref = (f.ref + 1) % 256
	ref := f.ref
	whole, err := f.coll.Collect(*tp)
	f.mu.Unlock()
	f.write(fmt.Sprintf("\r\n+CMGS: %d\r\n\r\nOK\r\n", ref))
	if err != nil || whole == nil {
		return
	}
	text, err := sms.Decode(whole)
	if err != nil {
		f.t.Errorf("undecodable SMS: %v", err)
		return
	}
	f.sms <- whole[0].DA.Number() + " " + string(text)
}
