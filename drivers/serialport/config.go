// Package serialport is the serial transport shared by the bus and stream
// drivers, on go.bug.st/serial: open by path or by USB VID:PID (+ serial
// number), reconnect with capped backoff, and a half-duplex RS-485 bus that
// serializes requests.
package serialport

// Config selects and configures one serial port. Either Path or USB.VID and
// USB.PID must be set. Drivers embed it as their `port:` section.
type Config struct {
	Path     string    `mapstructure:"path" yaml:"path"`           // /dev/ttyUSB0
	USB      USBConfig `mapstructure:"usb" yaml:"usb"`             // survives ttyUSB0 becoming ttyUSB1
	Baud     int       `mapstructure:"baud" yaml:"baud"`           // 2400 for most meters
	DataBits int       `mapstructure:"data_bits" yaml:"data_bits"` // 7 or 8
	Parity   string    `mapstructure:"parity" yaml:"parity"`       // none, even, odd
	StopBits float64   `mapstructure:"stop_bits" yaml:"stop_bits"` // 1, 1.5, 2
}

// USBConfig finds a port by its USB identity through the enumerator.
type USBConfig struct {
	VID    string `mapstructure:"vid" yaml:"vid"`       // hex, e.g. 1a86
	PID    string `mapstructure:"pid" yaml:"pid"`       // hex, e.g. 7523
	Serial string `mapstructure:"serial" yaml:"serial"` // optional, when two adapters share VID:PID
}
