package serialport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"

	"github.com/anxin-care/anxin/drivers"
)

// Port is the narrow view of a serial port the drivers use. go.bug.st/serial
// ports satisfy it; tests pass fakes or real pseudo-terminals.
type Port interface {
	io.ReadWriteCloser
	// SetReadTimeout bounds each Read; a Read that times out returns 0, nil.
	SetReadTimeout(time.Duration) error
	// ResetInputBuffer drops bytes received but not yet read.
	ResetInputBuffer() error
}

// Opener opens the port a Config selects. Open is the real one; tests inject
// fakes through RunWith.
type Opener func(c Config) (Port, error)

// Defaults applied by SetDefaults: 9600 8N1.
const (
	DefaultBaud     = 9600
	DefaultDataBits = 8
	DefaultParity   = "none"
	DefaultStopBits = 1
)

// SetDefaults fills the zero fields with 9600 8N1. Meters on 2400 8E1 must
// say so in their config.
func (c *Config) SetDefaults() {
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.DataBits == 0 {
		c.DataBits = DefaultDataBits
	}
	if c.Parity == "" {
		c.Parity = DefaultParity
	}
	if c.StopBits == 0 {
		c.StopBits = DefaultStopBits
	}
}

var hex4 = regexp.MustCompile(`^[0-9A-Fa-f]{4}$`)

// Validate checks the config without touching any port. Errors name the key
// relative to the port section (path, usb.vid, baud, …).
func (c Config) Validate() error {
	usb := c.USB.VID != "" || c.USB.PID != "" || c.USB.Serial != ""
	switch {
	case c.Path == "" && !usb:
		return drivers.Missing("path", "required, or usb.vid and usb.pid instead")
	case c.Path != "" && usb:
		return drivers.NewConfigError(drivers.KeysConflict, "path", "path and usb: set one of them, not both").
			WithChoices("usb")
	case usb && !hex4.MatchString(c.USB.VID):
		return drivers.Because("usb.vid", drivers.ReasonUSBID, "%q is not 4 hex digits (e.g. 1a86)", c.USB.VID).
			WithValue(c.USB.VID)
	case usb && !hex4.MatchString(c.USB.PID):
		return drivers.Because("usb.pid", drivers.ReasonUSBID, "%q is not 4 hex digits (e.g. 7523)", c.USB.PID).
			WithValue(c.USB.PID)
	case c.Baud <= 0:
		return drivers.NewConfigError(drivers.ValueOutOfRange, "baud", "%d must be positive (e.g. 2400, 9600)", c.Baud).
			WithValue(c.Baud).WithRange("> 0")
	case c.DataBits < 5 || c.DataBits > 8:
		return drivers.NewConfigError(drivers.ValueNotChoice, "data_bits", "%d must be 5, 6, 7 or 8", c.DataBits).
			WithValue(c.DataBits).WithChoices("5", "6", "7", "8")
	}
	if _, err := parity(c.Parity); err != nil {
		return err
	}
	if _, err := stopBits(c.StopBits); err != nil {
		return err
	}
	return nil
}

// Label names the port in logs and metric labels: the path, or usb:VID:PID[:serial].
func (c Config) Label() string {
	if c.Path != "" {
		return c.Path
	}
	l := "usb:" + strings.ToLower(c.USB.VID) + ":" + strings.ToLower(c.USB.PID)
	if c.USB.Serial != "" {
		l += ":" + c.USB.Serial
	}
	return l
}

func parity(s string) (serial.Parity, error) {
	switch s {
	case "none":
		return serial.NoParity, nil
	case "even":
		return serial.EvenParity, nil
	case "odd":
		return serial.OddParity, nil
	}
	return 0, drivers.NewConfigError(drivers.ValueNotChoice, "parity", "%q must be none, even or odd", s).
		WithValue(s).WithChoices("none", "even", "odd")
}

func stopBits(f float64) (serial.StopBits, error) {
	switch f {
	case 1:
		return serial.OneStopBit, nil
	case 1.5:
		return serial.OnePointFiveStopBits, nil
	case 2:
		return serial.TwoStopBits, nil
	}
	return 0, drivers.NewConfigError(drivers.ValueNotChoice, "stop_bits", "%v must be 1, 1.5 or 2", f).
		WithValue(f).WithChoices("1", "1.5", "2")
}

// ErrNotFound means no port matched: the device path is absent or no USB
// adapter with the configured VID:PID is plugged in. It is retried.
var ErrNotFound = errors.New("serial port not found (unplugged?)")

// OpenError is a failure to open a port, classified once here so that Run
// and the drivers agree on what is retried.
type OpenError struct {
	Port      string // Config.Label()
	Permanent bool   // fatal: permission denied, not a tty, invalid config
	Err       error
}

func (e *OpenError) Error() string {
	if e.Permanent {
		return fmt.Sprintf("serial port %s: %v (fatal, will not be retried)", e.Port, e.Err)
	}
	return fmt.Sprintf("serial port %s: %v (will be retried)", e.Port, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a failure that retrying cannot fix:
// permission denied, a path that is not a serial port, an invalid config.
// Not found, unplugged, busy and I/O errors are transient.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var oe *OpenError
	if errors.As(err, &oe) {
		return oe.Permanent
	}
	return classify(err)
}

// classify decides whether a raw error from the serial library or the OS is
// permanent.
func classify(err error) bool {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PermissionDenied, serial.InvalidSpeed,
			serial.InvalidDataBits, serial.InvalidParity, serial.InvalidStopBits:
			return true
		case serial.InvalidSerialPort:
			// The library keeps the cause only as text: ENOTTY means the
			// path is not a serial port; EIO and the like mean the adapter
			// went away while opening, which is worth another try.
			return strings.Contains(pe.Error(), syscall.ENOTTY.Error())
		}
		return false
	}
	var ce *configError
	if errors.As(err, &ce) {
		return true
	}
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOTTY) ||
		errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}

type configError struct{ err error }

// checked returns c with the defaults applied, or the permanent *OpenError
// of an invalid config.
func (c Config) checked() (Config, error) {
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return c, &OpenError{Port: c.Label(), Permanent: true, Err: &configError{err}}
	}
	return c, nil
}

func (e *configError) Error() string { return "invalid config: " + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// Resolve returns the device path a Config selects: Path as is, or the one
// USB serial port whose VID:PID (and serial number, when set) match.
func Resolve(c Config) (string, error) {
	if c.Path != "" {
		return c.Path, nil
	}
	list, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return "", fmt.Errorf("enumerate USB serial ports: %w", err)
	}
	return pick(c.USB, list)
}

// pick chooses among enumerated ports; split out so tests can feed a list.
func pick(u USBConfig, list []*enumerator.PortDetails) (string, error) {
	var names []string
	for _, p := range list {
		if p == nil || !p.IsUSB || !strings.EqualFold(p.VID, u.VID) || !strings.EqualFold(p.PID, u.PID) {
			continue
		}
		if u.Serial != "" && p.SerialNumber != u.Serial {
			continue
		}
		names = append(names, p.Name)
	}
	slices.Sort(names)
	switch len(names) {
	case 0:
		return "", fmt.Errorf("no USB adapter %s:%s%s: %w", u.VID, u.PID, serialSuffix(u.Serial), ErrNotFound)
	case 1:
		return names[0], nil
	}
	// Reading the wrong bus is worse than reading none: wait until the
	// ambiguity is gone (or the config names usb.serial).
	return "", fmt.Errorf("%d USB adapters match %s:%s (%s); set usb.serial to choose one: %w",
		len(names), u.VID, u.PID, strings.Join(names, ", "), ErrNotFound)
}

func serialSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " serial " + s
}

// Open resolves and opens the port with the configured line settings. Every
// error is an *OpenError saying whether it will be retried.
func Open(c Config) (Port, error) {
	c, err := c.checked()
	if err != nil {
		return nil, err
	}
	label := c.Label()
	path, err := Resolve(c)
	if err != nil {
		return nil, &OpenError{Port: label, Err: err}
	}
	par, _ := parity(c.Parity)      // validated above
	stop, _ := stopBits(c.StopBits) // validated above
	p, err := serial.Open(path, &serial.Mode{BaudRate: c.Baud, DataBits: c.DataBits, Parity: par, StopBits: stop})
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO) {
			err = fmt.Errorf("%s: %w", path, ErrNotFound)
		}
		return nil, &OpenError{Port: label, Permanent: classify(err), Err: err}
	}
	return p, nil
}
