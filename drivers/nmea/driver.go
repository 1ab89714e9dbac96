package nmea

import (
	"context"
	"strings"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

// idleFlush is the read timeout of the port: a pause this long ends the
// current epoch, so a module that sends only GGA (or stops) is not held back
// until its next epoch.
const idleFlush = 300 * time.Millisecond

type driver struct {
	cfg       *Config
	env       drivers.Env
	reconnect serialport.Reconnect
	sentences *metrics.CounterVec // anxin_nmea_sentences_total{device,result}
}

func newDriver(c *Config, env drivers.Env) (*driver, error) {
	cv, err := serialport.Register(env.Metrics, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_nmea_sentences_total",
		Help: "NMEA lines read, by result: fix (sentence of a fix epoch), skipped (proprietary or unused), malformed (bad checksum, framing or field), too_long.",
	}, []string{"device", "result"}))
	if err != nil {
		return nil, err
	}
	return &driver{cfg: c, env: env, sentences: cv}, nil
}

// Run reads sentences from the port until ctx ends, reconnecting through
// serialport.Run. Readings carry the gateway's clock as ts (a receiver's
// date can be wrong after a GPS week rollover; the gateway's is NTP-synced).
func (d *driver) Run(ctx context.Context, sink drivers.Sink) error {
	return serialport.Run(ctx, d.cfg.Port, d.env, d.reconnect, func(ctx context.Context, p serialport.Port) error {
		return d.session(ctx, p, sink)
	})
}

func (d *driver) session(ctx context.Context, p serialport.Port, sink drivers.Sink) error {
	if err := p.SetReadTimeout(idleFlush); err != nil {
		return err
	}
	log := d.env.Logger.With("device", d.cfg.Device) // gatewayd's logger names the driver
	var (
		pending  []anxin.Message
		lastEmit time.Time
		prev     Stats
	)
	asm := NewAssembler(func(f Fix) {
		now := d.env.Now()
		if d.cfg.MinInterval > 0 && !lastEmit.IsZero() && now.Sub(lastEmit) < d.cfg.MinInterval {
			return
		}
		lastEmit = now
		pending = append(pending, d.cfg.message(f, now, d.env.Household))
	})
	split := newLineSplitter(maxLine)
	onLine := func(b []byte, _ int64) {
		line := strings.TrimSpace(string(b))
		if line == "" {
			return
		}
		if err := asm.Line(line); err != nil {
			log.Debug("nmea line skipped", "err", err)
		}
	}
	tooLong := func(int64) { d.sentences.WithLabelValues(d.cfg.Device, "too_long").Inc() }
	buf := make([]byte, 512)
	for {
		n, err := p.Read(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 {
			asm.Flush()
		} else {
			split.feed(buf[:n], onLine, tooLong)
		}
		d.count(&prev, asm.Stats)
		for _, m := range pending {
			if err := sink.Put(ctx, m); err != nil {
				return err // ctx ended (Run then returns nil) or the sink closed
			}
		}
		pending = pending[:0]
	}
}

// count adds what the assembler saw since the last call to the metrics.
func (d *driver) count(prev *Stats, now Stats) {
	add := func(result string, delta int) {
		if delta > 0 {
			d.sentences.WithLabelValues(d.cfg.Device, result).Add(float64(delta))
		}
	}
	add("skipped", now.Skipped-prev.Skipped)
	add("malformed", now.Malformed-prev.Malformed)
	add("fix", now.Sentences-now.Skipped-(prev.Sentences-prev.Skipped))
	*prev = now
}
