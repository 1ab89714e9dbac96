package gateway

import (
	"cmp"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin"
)

// DefaultPortDownAfter is how long a driver's serial port must be
// unavailable (the adapter unplugged or dead, a port that cannot be used)
// before the driver's devices are reported offline on their status topics:
// alarmd's device_offline rule then tells the installers. A 433 MHz
// receiver's buttons and detectors send nothing until they are pressed or
// sense smoke, so without this a dead receiver went unnoticed. Shorter
// outages (a reconnect) report nothing.
const DefaultPortDownAfter = time.Minute

// DefaultPortUpAfter is how long a port must stay usable (its session
// running) before it counts as back: a port that opens and fails at the
// first read (an adapter a flaky hub resets, a cable that drops the line)
// reads nothing, and its reopen every backoff (at most a minute) must not
// end the outage each time — it was never reported offline, or flapped
// online and offline every minute, which device_offline's 30 min never
// saw. The serial transport's own "healthy" session length.
const DefaultPortUpAfter = 30 * time.Second

// portWatch is what an instance's port state has led to report.
type portWatch struct {
	mu          sync.Mutex
	up          bool        // usable for PortUpAfter, and not down since
	downTimer   *time.Timer // the outage's offline report, pending
	upTimer     *time.Timer // the port's return, being confirmed
	offlineSent bool
	everUp      bool // since this instance was made: the first up reports online
	ended       bool
}

// portTimerHook, when set (tests), runs as a portWatch timer's callback
// starts, before it takes the lock (true), and as it returns (false).
var portTimerHook atomic.Pointer[func(w *portWatch, starting bool)]

// after sets *slot to a timer that runs f under w.mu after d, unless by
// then *slot no longer holds that timer (stopped or replaced: a callback
// that had already started when Stop was called does nothing) or w has
// ended. w.mu is held, so the callback sees *slot set.
func (w *portWatch) after(d time.Duration, slot **time.Timer, f func()) {
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		if hook := portTimerHook.Load(); hook != nil {
			(*hook)(w, true)
			defer (*hook)(w, false)
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if *slot != t || w.ended {
			return
		}
		*slot = nil
		f()
	})
	*slot = t
}

// stopTimers stops both timers; w.mu is held.
func (w *portWatch) stopTimers() {
	for _, t := range []**time.Timer{&w.downTimer, &w.upTimer} {
		if *t != nil {
			(*t).Stop()
			*t = nil
		}
	}
}

// end stops what w would still report: after a reload its successor's
// online must not be followed by this instance's late offline.
func (w *portWatch) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ended = true
	w.stopTimers()
}

// portStatus is one round of device statuses to put, in order.
type portStatus struct {
	in    *instance
	devs  []string
	state string
}

// portState takes a driver's port state (drivers.Env.PortState): down for
// PortDownAfter (counted from the first down since the port was last back)
// reports the devices offline; up for PortUpAfter ends the outage and
// reports them online when an offline was reported, and the first time
// since the instance was made (an offline left retained on the broker by a
// gatewayd that stopped with the port down must not stay). The statuses
// are the gateway's household's (a district gatewayd's dial-in drivers
// are TCP and tell no port state).
func (g *Gateway) portState(in *instance, up bool) {
	devs := devicesOf(in.entry.Config)
	if len(devs) == 0 {
		return
	}
	w := &in.port
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	if !up {
		if w.upTimer != nil { // not back after all: the outage goes on
			w.upTimer.Stop()
			w.upTimer = nil
		}
		if w.up || (w.downTimer == nil && !w.offlineSent) {
			w.up = false
			var report func()
			report = func() {
				if !w.up && !w.offlineSent {
					if w.offlineSent = g.queuePortStatus(portStatus{in, devs, anxin.StateOffline}); !w.offlineSent {
						// the queue is full: no later change comes while the
						// port stays down, so try again in a second
						w.after(time.Second, &w.downTimer, report)
					}
				}
			}
			w.after(cmp.Or(g.opts.PortDownAfter, g.cfg.OfflineAfter, DefaultPortDownAfter), &w.downTimer, report)
		}
		return
	}
	if w.up || w.upTimer != nil {
		return
	}
	var report func()
	report = func() {
		if !w.offlineSent && w.everUp {
			return
		}
		if g.queuePortStatus(portStatus{in, devs, anxin.StateOnline}) {
			w.offlineSent, w.everUp = false, true
		} else {
			// the queue is full: the driver tells no second up while the
			// port stays usable, so try again in a second (a down stops it)
			w.after(time.Second, &w.upTimer, report)
		}
	}
	w.after(cmp.Or(g.opts.PortUpAfter, DefaultPortUpAfter), &w.upTimer, func() {
		w.stopTimers()
		w.up = true
		report()
	})
}

// queuePortStatus queues ps for putPortStatuses without waiting (its
// callers hold a lock, and the queue's reader ends with the gateway);
// false when the queue is full (ports flapping faster than statuses are
// spooled): either tries again in a second.
func (g *Gateway) queuePortStatus(ps portStatus) bool {
	select {
	case g.portStatuses <- ps:
		return true
	default:
		g.log.Error("device statuses not reported: queue full", "instance", ps.in.entry.Name, "state", ps.state)
		return false
	}
}

// putPortStatuses spools the statuses portState decided, in the order it
// decided them, until ctx ends.
func (g *Gateway) putPortStatuses(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ps := <-g.portStatuses:
			log := g.log.With("driver", ps.in.entry.Driver, "instance", ps.in.entry.Name)
			if ps.state == anxin.StateOffline {
				log.Warn("the driver cannot hear its devices (its port, home broker or RF bridge is down): they are reported offline", "devices", ps.devs)
			} else {
				log.Info("the driver hears its devices: they are reported online", "devices", ps.devs)
			}
			sink := g.sink(ps.in.entry.Name, log).(*instanceSink)
			for _, dev := range ps.devs {
				_ = sink.PutStatus(ctx, anxin.DeviceStatus{Device: dev, State: ps.state}) // logged there
			}
		}
	}
}
