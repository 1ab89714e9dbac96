package rules

import (
	"fmt"

	"github.com/anxin-care/anxin"
)

// OfflineParams are the keys of kind offline. Target device: a device
// (optionally of device_kinds) sent nothing for For (trigger silence), or
// reported offline on its status topic for For (trigger status), or either
// (trigger any, the default). Target gateway: the home gateway reported
// offline (its MQTT will) for For, or, with SilentAfter set, nothing at all
// came from the household for SilentAfter.
type OfflineParams struct {
	Target      string   `yaml:"target"`  // device | gateway
	Trigger     string   `yaml:"trigger"` // target device: any | status | silence
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
				return oneOf("target", clip(p.Target), fmt.Sprintf("%q is not device or gateway", clip(p.Target)), "device", "gateway")
			}
			if p.Target == "device" && p.Trigger == "" {
				p.Trigger = "any"
			}
			switch {
			case p.Target == "gateway" && p.Trigger != "":
				return because("trigger", reasonTriggerGateway, clip(p.Trigger), "", "only for target device (the gateway's own status is its will)")
			case p.Target == "device" && p.Trigger != "any" && p.Trigger != "status" && p.Trigger != "silence":
				return oneOf("trigger", clip(p.Trigger), fmt.Sprintf("%q is not any, status or silence", clip(p.Trigger)), "any", "status", "silence")
			}
			if p.For <= 0 {
				return outside("for", p.For, "> 0s", "must be a positive duration")
			}
			if p.SilentAfter < 0 || (p.SilentAfter > 0 && p.Target != "gateway") {
				return because("silent_after", reasonSilentAfter, "", "", "only for target gateway, and positive")
			}
			if p.Target == "gateway" && len(r.DeviceKinds) > 0 {
				return clash("device_kinds", "does not go with target gateway", "target: gateway")
			}
			return nil
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*OfflineParams)
			if p.Target == "gateway" {
				return &gatewayOffline{forSec: p.For.Seconds(), silentSec: p.SilentAfter.Seconds()}
			}
			return &deviceOffline{forSec: p.For.Seconds(),
				status: p.Trigger != "silence", silence: p.Trigger != "status"}
		},
	})
}

// deviceOffline slot (per device): t0 offline since, by the device's status
// (0: not offline); t1 the device last heard (a message, or an online
// status when statuses count).
type deviceOffline struct {
	forSec          int64
	status, silence bool // what raises: an offline status, silence
}

func (r *deviceOffline) match(*anxin.Message) bool { return true }

// sparse: with statuses only, a message matters only to a device that has
// reported a status (a slot exists).
func (r *deviceOffline) sparse() bool { return !r.silence }

func (r *deviceOffline) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if t > s.t1 {
		s.t1 = t
	}
	if s.t0 != 0 && t <= s.t0 {
		// measured before the device was reported offline, or in the same
		// second: alarmd takes statuses ahead of readings, so a reading the
		// gateway sent just before the status may come after it
		return
	}
	s.t0 = 0
	r.back(x, s, t)
}

// observeStatus takes the device's own status (anxin/v1/<hh>/<dev>/status).
// A status older than what the engine already knows (a retained one
// delivered again after a reconnect) changes nothing.
func (r *deviceOffline) observeStatus(x *evalCtx, s *slot, st anxin.Status, t int64) {
	if !r.status {
		return
	}
	if st.State == anxin.StateOffline {
		last := s.t1
		if int(s.dev) < len(x.h.devs) && int64(x.h.devs[s.dev].seen) > last {
			last = int64(x.h.devs[s.dev].seen) // its last message, also from before this slot existed
		}
		if t < last {
			return // the device was heard after this status
		}
		if s.t0 == 0 {
			s.t0 = t
		}
		r.tick(x, s)
		return
	}
	if s.t0 != 0 && t < s.t0 {
		return // older than the offline it would end
	}
	if t > s.t1 {
		s.t1 = t
	}
	s.t0 = 0
	r.back(x, s, t)
}

func (r *deviceOffline) back(x *evalCtx, s *slot, t int64) {
	x.clear(s, fOpen, func() string {
		return fmt.Sprintf("%s is back online (%s)", capitalize(x.deviceWords(s.dev)), x.clock(t))
	})
}

func (r *deviceOffline) tick(x *evalCtx, s *slot) {
	switch {
	case r.status && s.t0 != 0 && x.now-s.t0 >= r.forSec:
		x.raise(s, fOpen, func() string {
			return fmt.Sprintf("%s has been offline since %s (%s)", capitalize(x.deviceWords(s.dev)), x.clock(s.t0), span(x.now-s.t0))
		}, func() anxin.Cause {
			return anxin.Cause{Code: anxin.CauseDeviceOffline, Since: causeTime(s.t0), For: x.lasted(s.t0)}
		})
	case r.silence && s.t1 != 0 && x.now-s.t1 >= r.forSec+x.slack(s.t1):
		x.raise(s, fOpen, func() string {
			return fmt.Sprintf("%s has sent nothing since %s (%s)", capitalize(x.deviceWords(s.dev)), x.clock(s.t1), span(x.now-s.t1))
		}, func() anxin.Cause {
			return anxin.Cause{Code: anxin.CauseDeviceSilent, Since: causeTime(s.t1), For: x.lasted(s.t1)}
		})
	}
}

func (r *deviceOffline) deadline(x *evalCtx, s *slot) int64 {
	if s.flags&(fOpen|fMute1) != 0 {
		return 0
	}
	var d int64
	if r.status && s.t0 != 0 {
		d = s.t0 + r.forSec
	}
	if r.silence && s.t1 != 0 && (d == 0 || s.t1+r.forSec+x.slack(s.t1) < d) {
		d = s.t1 + r.forSec + x.slack(s.t1)
	}
	return x.windowed(d)
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

// observeStatus takes the gateway's own status (anxin/v1/<hh>/gateway/status).
func (r *gatewayOffline) observeStatus(x *evalCtx, s *slot, st anxin.Status, t int64) {
	if st.State == anxin.StateOffline {
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
		}, func() anxin.Cause {
			return anxin.Cause{Code: anxin.CauseGatewayOffline, Since: causeTime(s.t0), For: x.lasted(s.t0)}
		})
	case r.silentSec > 0 && s.t1 != 0 && x.now-s.t1 >= r.silentSec+x.slack(s.t1):
		x.raise(s, fOpen, func() string {
			return fmt.Sprintf("Nothing has come from the home since %s (%s)", x.clock(s.t1), span(x.now-s.t1))
		}, func() anxin.Cause {
			return anxin.Cause{Code: anxin.CauseHomeSilent, Since: causeTime(s.t1), For: x.lasted(s.t1)}
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
	if r.silentSec > 0 && s.t1 != 0 && (d == 0 || s.t1+r.silentSec+x.slack(s.t1) < d) {
		d = s.t1 + r.silentSec + x.slack(s.t1)
	}
	return x.windowed(d)
}
