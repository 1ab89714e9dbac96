package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// testsim is a driver that exists only in this test binary: it emits a
// numbered stream of messages for one device, and decodes captures of lines
// "<device> <n>" ("!" lines are undecodable frames).
type simConfig struct {
	Device     string `mapstructure:"device"`
	Count      int    `mapstructure:"count"`
	EventEvery int    `mapstructure:"event_every"`
	Parity     string `mapstructure:"parity"`
	FailFile   string `mapstructure:"fail_file"` // Run fails while this file exists
}

func (c *simConfig) Validate() error {
	if !anxin.ValidID(c.Device) {
		return fmt.Errorf("device: %q is not [A-Za-z0-9_-]{1,64}", c.Device)
	}
	if c.Count < 0 {
		return fmt.Errorf("count: %d is negative", c.Count)
	}
	if c.Parity != "none" && c.Parity != "even" && c.Parity != "odd" {
		return fmt.Errorf("port.parity: %q is not none|even|odd", c.Parity)
	}
	return nil
}

type simDriver struct {
	cfg *simConfig
	env drivers.Env
}

func (d *simDriver) message(n int) anxin.Message {
	m := anxin.Message{TS: d.env.Now(), Household: d.env.Household, Device: d.cfg.Device,
		ID: fmt.Sprintf("%s-%08d", d.cfg.Device, n)}
	if d.cfg.EventEvery > 0 && n%d.cfg.EventEvery == 0 {
		m.Kind, m.Event = anxin.KindCallButton, anxin.EventButtonPressed
	} else {
		m.Kind, m.Fields = anxin.KindWaterMeter, anxin.Fields{"total_m3": anxin.Num(float64(n))}
	}
	return m
}

func (d *simDriver) Run(ctx context.Context, sink drivers.Sink) error {
	if d.cfg.FailFile != "" {
		if _, err := os.Stat(d.cfg.FailFile); err == nil {
			return fmt.Errorf("%s exists (a port without permission, say)", d.cfg.FailFile)
		}
	}
	for n := range d.cfg.Count {
		if err := sink.Put(ctx, d.message(n)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func (d *simDriver) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	sc := bufio.NewScanner(r)
	var off int64
	for sc.Scan() {
		line := sc.Text()
		dev, num, ok := strings.Cut(line, " ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || !anxin.ValidID(dev) {
			fail(drivers.DecodeError{Offset: off, Err: errors.New("not a <device> <n> line")})
		} else {
			m := d.message(n)
			m.ID, m.Device = "", dev
			emit(m)
		}
		off += int64(len(line)) + 1
	}
	return sc.Err()
}

func init() {
	drivers.Register(drivers.Plugin{
		Name:         "testsim",
		SampleConfig: "device: sim1\ncount: 10\n",
		NewConfig:    func() drivers.Config { return &simConfig{Device: "sim1", Parity: "none"} },
		New: func(cfg drivers.Config, env drivers.Env) (drivers.Driver, error) {
			return &simDriver{cfg: cfg.(*simConfig), env: env}, nil
		},
		NewDecoder: func(cfg drivers.Config, env drivers.Env) (drivers.Decoder, error) {
			return &simDriver{cfg: cfg.(*simConfig), env: env}, nil
		},
	})
}
