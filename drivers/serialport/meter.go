package serialport

import (
	"log/slog"

	"github.com/anxin-care/anxin/internal/metrics"
)

// MeterMetrics count what happens to polled bus meters (CJ/T 188, DL/T 645,
// Modbus). The collectors are shared by every driver using a registry.
type MeterMetrics struct {
	Readings  *metrics.CounterVec // anxin_meter_readings_total{driver,device}
	NoReply   *metrics.CounterVec // anxin_meter_no_reply_total{driver,device}
	Errors    *metrics.CounterVec // anxin_meter_errors_total{driver,device}: error replies, undecodable replies
	BadFrames *metrics.CounterVec // anxin_meter_bad_frames_total{driver,port}: checksum errors on the line
	Silent    *metrics.GaugeVec   // anxin_meter_silent{driver,device}: 1 after misses_before_silent misses in a row
	SilentTot *metrics.CounterVec // anxin_meter_silent_total{driver,device}: times a meter went silent
}

// NewMeterMetrics registers (or finds) the meter collectors.
func NewMeterMetrics(reg metrics.Registerer) (*MeterMetrics, error) {
	var m MeterMetrics
	dev := []string{"driver", "device"}
	counters := []struct {
		dst    **metrics.CounterVec
		name   string
		help   string
		labels []string
	}{
		{&m.Readings, "anxin_meter_readings_total", "Readings decoded from polled meters.", dev},
		{&m.NoReply, "anxin_meter_no_reply_total", "Polls a meter did not answer within the timeout.", dev},
		{&m.Errors, "anxin_meter_errors_total", "Meter replies that reported an error or could not be decoded.", dev},
		{&m.BadFrames, "anxin_meter_bad_frames_total", "Frames with a bad checksum seen on a meter bus.", []string{"driver", "port"}},
		{&m.SilentTot, "anxin_meter_silent_total", "Times a meter went silent (several polls in a row unanswered).", dev},
	}
	for _, c := range counters {
		v, err := Register(reg, metrics.NewCounterVec(metrics.CounterOpts{Name: c.name, Help: c.help}, c.labels))
		if err != nil {
			return nil, err
		}
		*c.dst = v
	}
	g, err := Register(reg, metrics.NewGaugeVec(metrics.GaugeOpts{
		Name: "anxin_meter_silent",
		Help: "1 while a meter is silent (several polls in a row unanswered), else 0.",
	}, dev))
	if err != nil {
		return nil, err
	}
	m.Silent = g
	return &m, nil
}

// Silence tracks consecutive unanswered polls of one meter and reports the
// change to silent (and back) once each, in the log and the metrics.
type Silence struct {
	Limit   int // misses in a row before the meter counts as silent
	misses  int
	silent  bool
	Log     *slog.Logger
	Metrics *MeterMetrics
	Driver  string
	Device  string
}

// Miss records an unanswered poll.
func (s *Silence) Miss() {
	s.Metrics.NoReply.WithLabelValues(s.Driver, s.Device).Inc()
	s.misses++
	if !s.silent && s.misses >= s.Limit {
		s.silent = true
		s.Metrics.SilentTot.WithLabelValues(s.Driver, s.Device).Inc()
		s.Metrics.Silent.WithLabelValues(s.Driver, s.Device).Set(1)
		s.Log.Warn("meter silent", "device", s.Device, "misses", s.misses)
	}
}

// Answer records a reply (a reading or an error reply: the meter is there).
func (s *Silence) Answer() {
	if s.silent {
		s.Log.Info("meter answers again", "device", s.Device, "after_misses", s.misses)
		s.Metrics.Silent.WithLabelValues(s.Driver, s.Device).Set(0)
	}
	s.misses, s.silent = 0, false
}

// IsSilent reports whether the meter is currently silent.
func (s *Silence) IsSilent() bool { return s.silent }
