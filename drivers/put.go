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
	var wait RetryWait
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
		d := wait.Next()
		log.Error("message not stored; trying again", append(attrs, "err", err, "retry_in", d)...)
		if !anxin.SleepContext(ctx, d) {
			return false
		}
	}
}

// RetryWait is the wait between tries of a message the sink refused: 1 s,
// doubling to 30 s while it keeps refusing.
type RetryWait struct{ wait time.Duration }

// Next is the wait before the next try.
func (w *RetryWait) Next() time.Duration {
	w.wait = min(max(2*w.wait, time.Second), 30*time.Second)
	return w.wait
}

// Reset starts again from 1 s (the sink took one).
func (w *RetryWait) Reset() { w.wait = 0 }
