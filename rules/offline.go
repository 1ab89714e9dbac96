package rules

import (
	"fmt"

	"github.com/anxin-care/anxin"
)

// OfflineParams are the keys of kind offline. Target device: a device
// (optionally of device_kinds) sent nothing for For. Target gateway: the
// home gateway reported offline (its MQTT will) for For, or, with
// SilentAfter set, nothing at all came from the household for SilentAfter.
type OfflineParams struct {
	Target      string   `yaml:"target"` // device | gateway
	For         Duration `yaml:"for"`
	SilentAfter Duration `yaml:"silent_after"`
}

func init() {
	registerKind("offline", kindDef{
		params: func() any { return &OfflineParams{} },
		check: func(r *Rule) error {
			p := r.Params.(*OfflineParams)
			if p.Target == "" {
				p.Target = "device"
			}
			if p.Target != "device" && p.Target != "gateway" {
				return fmt.Errorf("target: %q is not device or gateway", clip(p.Target))
			}
			if p.For <= 0 {
				return fmt.Errorf("for: must be a positive duration")
			}
			if p.SilentAfter < 0 || (p.SilentAfter > 0 && p.Target != "gateway") {
				return fmt.Errorf("silent_after: only for target gateway, and positive")
			}
			if p.Target == "gateway" && len(r.DeviceKinds) > 0 {
				return fmt.Errorf("device_kinds: does not go with target gateway")
			}
			return nil
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*OfflineParams)
			if p.Target == "gateway" {
				return &gatewayOffline{forSec: p.For.Seconds(), silentSec: p.SilentAfter.Seconds()}
			}
			return &deviceOffline{forSec: p.For.Seconds()}
		},
	})
}

// deviceOffline slot: t1 last message of the device.
type deviceOffline struct{ forSec int64 }

func (r *deviceOffline) match(*anxin.Message) bool { return true }

func (r *deviceOffline) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if t > s.t1 {
		s.t1 = t
	}
	x.clear(s, fOpen, func() string {
		return fmt.Sprintf("%s is back online (%s)", capitalize(x.deviceWords(s.dev)), x.clock(t))
	})
}

func (r *deviceOffline) tick(x *evalCtx, s *slot) {
	if s.t1 != 0 && x.now-s.t1 >= r.forSec {
		x.raise(s, fOpen, func() string {
			return fmt.Sprintf("%s has sent nothing since %s (%s)", capitalize(x.deviceWords(s.dev)), x.clock(s.t1), span(x.now-s.t1))
		})
	}
}

func (r *deviceOffline) deadline(x *evalCtx, s *slot) int64 {
	if s.t1 == 0 || s.flags&(fOpen|fMute1) != 0 {
		return 0
	}
	return x.windowed(s.t1 + r.forSec)
}

// gatewayOffline slot (per household): t0 offline since (0: online), t1
// last message from the household.
type gatewayOffline struct{ forSec, silentSec int64 }

func (r *gatewayOffline) perHousehold()             {}
func (r *gatewayOffline) match(*anxin.Message) bool { return true }

func (r *gatewayOffline) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if t > s.t1 {
		s.t1 = t
	}
	r.online(x, s, t)
}

func (r *gatewayOffline) observeGateway(x *evalCtx, s *slot, st anxin.GatewayStatus, t int64) {
	if st.State == "offline" {
		if s.t0 == 0 {
			s.t0 = t
		}
		r.tick(x, s)
		return
	}
	if t > s.t1 {
		s.t1 = t
	}
	r.online(x, s, t)
}

func (r *gatewayOffline) online(x *evalCtx, s *slot, t int64) {
	s.t0 = 0
	x.clear(s, fOpen, func() string { return fmt.Sprintf("The home gateway is back online (%s)", x.clock(t)) })
}

func (r *gatewayOffline) tick(x *evalCtx, s *slot) {
	switch {
	case s.t0 != 0 && x.now-s.t0 >= r.forSec:
		x.raise(s, fOpen, func() string {
			return fmt.Sprintf("The home gateway has been offline since %s (%s)", x.clock(s.t0), span(x.now-s.t0))
		})
	case r.silentSec > 0 && s.t1 != 0 && x.now-s.t1 >= r.silentSec:
		x.raise(s, fOpen, func() string {
			return fmt.Sprintf("Nothing has come from the home since %s (%s)", x.clock(s.t1), span(x.now-s.t1))
		})
	}
}

func (r *gatewayOffline) deadline(x *evalCtx, s *slot) int64 {
	if s.flags&(fOpen|fMute1) != 0 {
		return 0
	}
	var d int64
	if s.t0 != 0 {
		d = s.t0 + r.forSec
	}
	if r.silentSec > 0 && s.t1 != 0 && (d == 0 || s.t1+r.silentSec < d) {
		d = s.t1 + r.silentSec
	}
	return x.windowed(d)
}
