package watch3g

import (
	"fmt"
	"time"

	"github.com/anxin-care/anxin/drivers/tcpserver"
)

// Watch is a simulated 3G watch for tests, the load tool and the demo: it
// says hello (LK), reports positions (UD), health and presses SOS (AL)
// over a real TCP connection.
type Watch struct {
	Maker, ID string
	c         *tcpserver.Client
}

// DialWatch connects a watch to a platform.
func DialWatch(addr, id string) (*Watch, error) {
	c, err := tcpserver.DialClient(addr, Framing)
	if err != nil {
		return nil, err
	}
	return &Watch{Maker: "3G", ID: id, c: c}, nil
}

// Close hangs up.
func (w *Watch) Close() error { return w.c.Close() }

// Send writes one frame with content.
func (w *Watch) Send(content string) error { return w.c.Write(Encode(w.Maker, w.ID, "", content)) }

// Read waits for the platform's next frame (at most timeout).
func (w *Watch) Read(timeout time.Duration) (Frame, error) {
	b, err := w.c.Next(timeout)
	if err != nil {
		return Frame{}, err
	}
	return Parse(b)
}

// Call sends content and waits for the answer want.
func (w *Watch) Call(content, want string, timeout time.Duration) error {
	if err := w.Send(content); err != nil {
		return err
	}
	f, err := w.Read(timeout)
	if err != nil {
		return err
	}
	if f.Content != want {
		return fmt.Errorf("answered %q, want %q", f.Content, want)
	}
	return nil
}

// Fix is what a simulated position says.
type Fix struct {
	Time       time.Time
	Lat, Lon   float64 // signed
	SpeedKmh   float64
	Course     float64
	AltM       float64
	BatteryPct int
	Status     uint32
}

// PositionContent is a UD (or AL, with typ "AL") content for f.
func PositionContent(typ string, f Fix) string {
	ns, ew := "N", "E"
	lat, lon := f.Lat, f.Lon
	if lat < 0 {
		ns, lat = "S", -lat
	}
	if lon < 0 {
		ew, lon = "W", -lon
	}
	t := f.Time.UTC()
	return fmt.Sprintf("%s,%s,%s,A,%.6f,%s,%.6f,%s,%.2f,%.1f,%.1f,9,100,%d,0,0,%08X,1,1,460,0,9360,4082,131",
		typ, t.Format("020106"), t.Format("150405"), lat, ns, lon, ew, f.SpeedKmh, f.Course, f.AltM, f.BatteryPct, f.Status)
}

// Report sends a UD position (not answered by the platform).
func (w *Watch) Report(f Fix) error { return w.Send(PositionContent("UD", f)) }

// SOS sends an AL with the SOS bit and waits for the platform's answer.
func (w *Watch) SOS(f Fix, timeout time.Duration) error {
	f.Status |= AlarmSOS
	return w.Call(PositionContent("AL", f), "AL", timeout)
}
