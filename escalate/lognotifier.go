package escalate

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
)

// LogNotifier is the notifier when no provider is configured: it logs what
// it would send — the SMS as the family reads it, with the elder's name
// masked, and the ack link, so a person on the same machine can accept — and
// masks the phone number. Calls never progress, so steps move
// on at their deadlines.
type LogNotifier struct {
	Logger *slog.Logger

	mu   sync.Mutex
	sent map[string]bool // attempt ids logged since start, for Lookup
}

// Send logs the notification.
func (l *LogNotifier) Send(_ context.Context, n anxin.Notification) (string, bool, error) {
	l.mu.Lock()
	if l.sent == nil {
		l.sent = map[string]bool{}
	}
	l.sent[n.AttemptID] = true
	l.mu.Unlock()
	args := []any{"attempt", n.AttemptID, "channel", n.Channel, "to", anxin.MaskPhone(n.To)}
	if n.AckURL != "" {
		args = append(args, "ack_url", n.AckURL)
	}
	if n.Masked != "" {
		args = append(args, "text", n.Masked) // what the family reads, the elder's name masked
	}
	if n.Channel == anxin.ChannelVoice {
		args = append(args, "press_1_to_accept", n.AskKey) // the words hold the elder's name: not logged
	}
	l.Logger.Info("notify (log provider: not sent)", args...)
	return "log-" + n.AttemptID, false, nil
}

// Lookup finds attempts logged since this process started.
func (l *LogNotifier) Lookup(_ context.Context, n anxin.Notification, _ time.Time) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sent[n.AttemptID] {
		return []string{"log-" + n.AttemptID}, nil
	}
	return nil, nil
}

// Cancel logs the end of a call.
func (l *LogNotifier) Cancel(_ context.Context, providerID string, answered bool) error {
	l.Logger.Info("notify (log provider): call ended", "provider_id", providerID, "answered", answered)
	return nil
}
