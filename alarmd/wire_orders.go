package alarmd

import (
	"context"

	"github.com/anxin-care/anxin/dispatch"
	"github.com/anxin-care/anxin/escalate"
)

// newDispatcher builds the work order dispatcher (派单 → 化解 → 反馈): its
// SMS go through Main.OrderNotifier when set (tests), else the escalator's
// first provider, else the log notifier. Its settings are read at start.
func newDispatcher(m *Main) *dispatch.Dispatcher {
	log := m.Logger.With("component", "dispatch")
	n := m.OrderNotifier
	if n == nil {
		n = m.notifier
	}
	if n == nil {
		n = &escalate.LogNotifier{Logger: log.With("notifier", "log")}
	}
	book, err := m.Config.Notify.Words()
	if err != nil {
		book = nil // validated at load; the default book then
	}
	return &dispatch.Dispatcher{
		Store: m.Store, Households: m.Households, Notifier: n, Words: book, PublicURL: m.Config.HTTP.PublicURL,
		Now: m.Now, Logger: log, Timeout: m.Config.Web.WorkOrderTimeout, DispatchAfter: m.Config.Web.DispatchAfter,
	}
}

// runOrders runs the dispatcher until ctx ends (Run starts it).
func (m *Main) runOrders(ctx context.Context) {
	if m.orders != nil {
		_ = m.orders.Run(ctx)
	}
}
