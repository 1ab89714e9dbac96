package drivers

import (
	"context"
	"log/slog"
	"time"

	"github.com/anxin-care/anxin"
)

// PutRetrying hands m to the sink until it takes it, and returns true; or
// false once ctx ends. See StoreRetrying.
func PutRetrying(ctx context.Context, sink Sink, m anxin.Message, log *slog.Logger) bool {
	return StoreRetrying(ctx, log, func(ctx context.Context) error { return sink.Put(ctx, m) },
		"device", m.Device, "event", m.Event)
}

// StoreRetrying calls store until it returns nil (true) or ctx ends
// (false). A refusal (a full or failing disk under the spool) is logged
// and retried after a wait, 1 s doubling to 30 s, in place: the sources
// cannot ask again (a 433 MHz remote sends a press once; a wired
// detector's input stays in alarm and makes no second edge; a driver's
// edge and de-bounce state already took the message as seen), so a message
// dropped or handed back here would be an alarm never raised. A refusal as
// invalid (anxin.EINVALID) can never succeed: it is logged and the message
// dropped, so it cannot block the ones behind it. attrs name the message
// in the log lines.
func StoreRetrying(ctx context.Context, log *slog.Logger, store func(context.Context) error, attrs ...any) bool {
	var wait time.Duration
	for {
		err := store(ctx)
		switch {
		case err == nil:
			return true
		case ctx.Err() != nil:
			return false
		case anxin.ErrorCode(err) == anxin.EINVALID:
			log.Error("message refused as invalid; dropped", append(attrs, "err", err)...)
			return true
		}
		wait = min(max(2*wait, time.Second), 30*time.Second)
		log.Error("message not stored; trying again", append(attrs, "err", err, "retry_in", wait)...)
		if !anxin.SleepContext(ctx, wait) {
			return false
		}
	}
}
