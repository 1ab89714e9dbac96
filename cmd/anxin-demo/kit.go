package main

import (
	"context"
	"errors"
	"fmt"

	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/anxin-care/anxin/drivers/cjt188"
	"github.com/anxin-care/anxin/drivers/nmea"
	"github.com/anxin-care/anxin/drivers/rf433"
)

// The simulated household kit: three devices on three pseudo-terminals,
// speaking the bytes the real devices send. gatewayd opens the slave side
// of each pty as if it were /dev/ttyUSBn; the simulators play the device on
// the master side.
const (
	meterAddress = "12345678901234" // as printed on the meter's label
	buttonCode   = "8d3cf6"         // the EV1527 code the button was learned with
)

// devicePty is one pseudo-terminal: the device's end (master) and the path
// gatewayd opens (the slave).
type devicePty struct {
	name          string
	master, slave *os.File
}

func openPty(name string) (*devicePty, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: pseudo-terminal: %w", name, err)
	}
	// raw from the start, so nothing written before gatewayd opens the
	// port is echoed or line-edited by the tty layer
	if err := makeRaw(s); err != nil {
		_ = m.Close()
		_ = s.Close()
		return nil, fmt.Errorf("%s: raw mode: %w", name, err)
	}
	return &devicePty{name: name, master: m, slave: s}, nil
}

func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// Path is what gatewayd's driver config names as port.path.
func (p *devicePty) Path() string { return p.slave.Name() }

func (p *devicePty) Close() error {
	return errors.Join(p.master.Close(), p.slave.Close())
}

// kit runs the three simulated devices.
type kit struct {
	water, gnss, rf *devicePty
	meter           *cjt188.Simulator
	log             *slog.Logger
	now             func() time.Time

	pressAfter time.Duration // the button is pressed this long after start
	fixEvery   time.Duration // the tracker writes a fix this often
	useEvery   time.Duration // the elder uses a little water this often

	wg      sync.WaitGroup
	pressed chan struct{}
}

func newKit(log *slog.Logger, now func() time.Time) (*kit, error) {
	k := &kit{log: log, now: now, pressed: make(chan struct{})}
	var err error
	for _, p := range []struct {
		dst  **devicePty
		name string
	}{{&k.water, "water meter"}, {&k.gnss, "tracker"}, {&k.rf, "433 MHz receiver"}} {
		if *p.dst, err = openPty(p.name); err != nil {
			_ = k.Close()
			return nil, err
		}
	}
	if k.meter, err = cjt188.NewSimulator(meterAddress); err != nil {
		_ = k.Close()
		return nil, err
	}
	k.meter.SetTotal(1024.5)
	k.meter.SetValve(true)
	return k, nil
}

// Run starts the devices; they stop when ctx ends and Close closes the ptys.
func (k *kit) Run(ctx context.Context) {
	k.wg.Add(4)
	go func() {
		defer k.wg.Done()
		// the meter answers gatewayd's CJ/T 188 polls until its pty closes
		if err := k.meter.Serve(ctx, k.water.master); err != nil && ctx.Err() == nil && !errors.Is(err, os.ErrClosed) {
			k.log.Warn("water meter simulator stopped", "err", err)
		}
	}()
	go func() {
		defer k.wg.Done()
		k.useWater(ctx)
	}()
	go func() {
		defer k.wg.Done()
		k.track(ctx)
	}()
	go func() {
		defer k.wg.Done()
		k.pressButton(ctx)
	}()
}

// useWater raises the meter's total a little now and then: the elder is
// using water as usual, so no "no water" alarm comes.
func (k *kit) useWater(ctx context.Context) {
	total := 1024.5
	t := time.NewTicker(k.useEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			total += 0.004
			k.meter.SetTotal(math.Round(total*1000) / 1000)
		}
	}
}

// track writes a GNRMC+GNGGA fix every fixEvery, walking slowly around the
// elder's village (made-up coordinates).
func (k *kit) track(ctx context.Context) {
	t := time.NewTicker(k.fixEvery)
	defer t.Stop()
	for i := 0; ; i++ {
		f := nmea.Fix{Time: k.now(), Lat: 30.659462 + 0.00001*float64(i%20), Lon: 104.063321, AltM: 502.3,
			SpeedKmh: 1.2, Quality: 1, Sats: 11, HDOP: 0.9,
			HasAlt: true, HasSpeed: true, HasQuality: true, HasSats: true, HasHDOP: true}
		if _, err := k.gnss.master.Write(nmea.EncodeFix(f)); err != nil {
			if ctx.Err() == nil {
				k.log.Warn("tracker simulator stopped", "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pressButton writes one press of the button's code after pressAfter, with
// the repeats a real EV1527 remote sends.
func (k *kit) pressButton(ctx context.Context) {
	code, err := rf433.ParseCode(buttonCode)
	if err != nil {
		k.log.Error("button code", "err", err)
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(k.pressAfter):
	}
	k.log.Info("demo: the elder presses the call button", "device", "btn1", "code", buttonCode)
	if _, err := k.rf.master.Write(rf433.EncodePress(rf433.FormatHex, code)); err != nil {
		k.log.Error("433 MHz simulator: press not written", "err", err)
		return
	}
	close(k.pressed)
}

// Close closes the ptys (which stops a simulator blocked on its master)
// and waits for the simulators.
func (k *kit) Close() error {
	var errs []error
	for _, p := range []*devicePty{k.water, k.gnss, k.rf} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	k.wg.Wait()
	return errors.Join(errs...)
}
