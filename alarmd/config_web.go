package alarmd

import (
	"fmt"
	"time"
)

// WebConfig tunes the web app's work orders (docs/web.md, "Work orders").
type WebConfig struct {
	// WorkOrderTimeout moves an order nobody took (待处理) this long after
	// its assignment to the next person.
	WorkOrderTimeout time.Duration `mapstructure:"work_order_timeout"`
	// DispatchAfter dispatches an alarm nobody took this long after it
	// opened, even while its chain still walks; an unanswered chain
	// dispatches at once.
	DispatchAfter time.Duration `mapstructure:"dispatch_after"`
}

func webDefaults(d map[string]any) {
	d["web.work_order_timeout"] = "30m"
	d["web.dispatch_after"] = "15m"
}

func (w WebConfig) validate() error {
	if w.WorkOrderTimeout < time.Minute || w.WorkOrderTimeout > 7*24*time.Hour {
		return fmt.Errorf("config: web.work_order_timeout %s is not between 1m and 168h", w.WorkOrderTimeout)
	}
	if w.DispatchAfter < time.Minute || w.DispatchAfter > 24*time.Hour {
		return fmt.Errorf("config: web.dispatch_after %s is not between 1m and 24h", w.DispatchAfter)
	}
	return nil
}
