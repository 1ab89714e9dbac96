package alarmd

import "time"

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
	if err := durBetween("web.work_order_timeout", w.WorkOrderTimeout, time.Minute, 7*24*time.Hour); err != nil {
		return err
	}
	return durBetween("web.dispatch_after", w.DispatchAfter, time.Minute, 24*time.Hour)
}
