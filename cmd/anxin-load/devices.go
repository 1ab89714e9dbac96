package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/anxin-care/anxin/drivers/tcpserver"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin/drivers/jt808"
	"github.com/anxin-care/anxin/drivers/watch3g"
)

// Device mode: many simulated dial-in devices (JT/T 808 terminals or 3G
// watches) connect to one gatewayd driver and report on a period:
//
//	anxin-load -jt808 127.0.0.1:8808 -devices 10000 -every 30s -sos 50
//	anxin-load -watch3g 127.0.0.1:8001 -devices 10000 -every 30s -sos 50
//
// Device i has the id fmt.Sprintf(-ids, i) (default 1380%07d for JT/T 808,
// 90%08d for watches): the driver's terminals: list must hold them. Running
// in its own process, the devices' sockets do not count against the
// driver's fd limit and their CPU is not the driver's.
//
// Output, JSON lines on stdout: {"connected":N,…} once all are connected
// (with -wait, then a line on stdin starts the reports), {"press":ID,
// "sent_unix_ns":T} as each press is written, and a final summary.

// deviceOpts is what a device run does.
type deviceOpts struct {
	Protocol string // jt808 or watch3g
	Addr     string
	Devices  int
	Every    time.Duration // each device reports once per Every
	SOS      int           // presses per round (about), spread over the devices
	Rounds   int           // 0: until the process ends
	IDs      string        // format of device i's id
	Dialers  int           // connections being set up at once
	Wait     bool          // after connecting, wait for a line on stdin
	Timeout  time.Duration // for each answer the device waits for
}

// DeviceResult is the summary of a device run.
type DeviceResult struct {
	Protocol       string  `json:"protocol"`
	Devices        int     `json:"devices"`
	ConnectSeconds float64 `json:"connect_seconds"`
	Reports        int64   `json:"reports"`
	SOS            int64   `json:"sos"`
	Errors         int64   `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
}

// defaultIDs is the id format of each protocol's simulated devices.
var defaultIDs = map[string]string{"jt808": "1380%07d", "watch3g": "90%08d"}

// simDevice is one simulated device of either protocol.
type simDevice interface {
	connect(timeout time.Duration) error
	report(sos bool, timeout time.Duration) error // an SOS waits for its answer
	Close() error
}

type jtDevice struct{ *jt808.Terminal }

func (d jtDevice) connect(timeout time.Duration) error {
	_, err := d.Login(timeout)
	return err
}

func (d jtDevice) report(sos bool, timeout time.Duration) error {
	f := jt808.Fix{Lat: 30.27, Lon: 120.15, Time: time.Now(), BatteryPct: 80}
	if sos {
		f.Alarm = jt808.AlarmSOS
	}
	return d.Report(f, timeout) // every report is answered (0x8001)
}

type watchDevice struct{ *watch3g.Watch }

func (d watchDevice) connect(timeout time.Duration) error { return d.Call("LK", "LK", timeout) }

func (d watchDevice) report(sos bool, timeout time.Duration) error {
	f := watch3g.Fix{Time: time.Now(), Lat: 30.27, Lon: 120.15, BatteryPct: 80}
	if sos {
		return d.SOS(f, timeout)
	}
	return d.Report(f) // UD is not answered
}

func dialDevice(protocol, addr, id string) (simDevice, error) {
	if protocol == "jt808" {
		t, err := jt808.Dial(addr, id, false)
		if err != nil {
			return nil, err
		}
		return jtDevice{t}, nil
	}
	w, err := watch3g.DialWatch(addr, id)
	if err != nil {
		return nil, err
	}
	return watchDevice{w}, nil
}

// runDevices connects o.Devices devices, then reports until o.Rounds are
// done. Lines go to out as they happen.
func runDevices(o deviceOpts, stdin io.Reader, out io.Writer) (DeviceResult, error) {
	res := DeviceResult{Protocol: o.Protocol, Devices: o.Devices}
	var outMu sync.Mutex
	emit := func(v any) {
		outMu.Lock()
		defer outMu.Unlock()
		b, _ := json.Marshal(v)
		out.Write(append(b, '\n'))
	}
	var errs atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if errs.Add(1) == 1 {
			firstErr.Store(err.Error())
		}
	}

	// Connect, o.Dialers at a time.
	start := time.Now()
	devs := make([]simDevice, o.Devices)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	var dialErr atomic.Value
	for range max(1, o.Dialers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.Devices || dialErr.Load() != nil {
					return
				}
				d, err := dialDevice(o.Protocol, o.Addr, fmt.Sprintf(o.IDs, i))
				if err == nil {
					if err = d.connect(o.Timeout); err != nil {
						d.Close()
					}
				}
				if err != nil {
					dialErr.CompareAndSwap(nil, fmt.Errorf("device %d: %w", i, err))
					return
				}
				devs[i] = d
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, d := range devs {
			if d != nil {
				d.Close()
			}
		}
	}()
	if err, _ := dialErr.Load().(error); err != nil {
		return res, err
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	emit(map[string]any{"connected": o.Devices, "connect_seconds": res.ConnectSeconds})
	if o.Wait {
		if _, err := bufio.NewReader(stdin).ReadString('\n'); err != nil {
			return res, fmt.Errorf("waiting for the start line: %w", err)
		}
	}

	// Report: device i at start + r·every + i·every/n; the presses of a
	// round spread evenly, each by another device than the round before.
	step := 0
	if o.SOS > 0 {
		step = max(1, o.Devices/o.SOS)
	}
	start = time.Now()
	var reports, presses atomic.Int64
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf(o.IDs, i)
			for r := 0; o.Rounds == 0 || r < o.Rounds; r++ {
				// Other devices press in the next round: a held bit is one press.
				sos := step > 0 && (i+r)%step == 0
				at := start.Add(time.Duration(r)*o.Every + time.Duration(i)*o.Every/time.Duration(o.Devices))
				time.Sleep(time.Until(at)) // the device's next report is due
				if sos {
					emit(map[string]any{"press": id, "sent_unix_ns": time.Now().UnixNano()})
				}
				if err := d.report(sos, o.Timeout); err != nil {
					fail(fmt.Errorf("device %s: %w", tcpserver.MaskTerminal(id), err))
					return
				}
				reports.Add(1)
				if sos {
					presses.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	res.Reports, res.SOS, res.Errors = reports.Load(), presses.Load(), errs.Load()
	res.FirstError, _ = firstErr.Load().(string)
	return res, nil
}
