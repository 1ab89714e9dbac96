// Package modem reaches people through a 4G/GSM modem on the alarmd host
// (SIM800, EC20/EC25 class): SMS in PDU mode (UCS-2 Chinese, concatenated
// long messages), incoming SMS replies, and a voice dial that rings the
// contact. It needs no internet, and a local SIM gets the replies that
// Chinese carriers never deliver to international senders.
//
// The port is opened with go.bug.st/serial and handed to
// github.com/warthog618/modem as an io.ReadWriter (its own serial package
// hangs in Close while a read is pending).
package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/warthog618/modem/at"
	"github.com/warthog618/modem/gsm"
	"go.bug.st/serial"

	"github.com/anxin-care/anxin"
)

// Replies receives SMS replies that came in on the modem's SIM: they come
// from local numbers, so +86 replies are believed (escalate.Service). An
// answer that comes with an error (the reply could not be recorded: it asks
// the sender to reply again) is sent too.
type Replies interface {
	LocalReply(ctx context.Context, from, body string) (answer string, err error)
}

// Config is the modem's port and pace.
type Config struct {
	Port        string        // /dev/ttyUSB2, or a pty in tests
	Baud        int           // default 115200
	Timeout     time.Duration // per AT command (default 10s; an SMS takes a few seconds on air)
	RingFor     time.Duration // a call rings this long before it is hung up (default 40s)
	CountryCode string        // numbers replies come from without one get it (default 86)
}

// Modem is an anxin.Notifier over one modem; AT commands are serialised
// by the AT layer, one call at a time.
type Modem struct {
	cfg     Config
	port    io.ReadWriteCloser
	gsm     *gsm.GSM
	log     *slog.Logger
	replies Replies
	reports anxin.DeliveryReports

	events chan anxin.StatusReport // call progress, reported in order
	done   chan struct{}

	mu      sync.Mutex
	dialing string // attempt id of the ATD under way: its OK starts the ring
	call    string // attempt id of the call ringing ("" none)
	ring    func() bool
}

// Open opens the port and initialises the modem in PDU mode; replies and
// reports may be nil (then incoming SMS and call progress are only logged).
func Open(cfg Config, replies Replies, reports anxin.DeliveryReports, log *slog.Logger) (*Modem, error) {
	if cfg.Baud == 0 {
		cfg.Baud = 115200
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.RingFor <= 0 {
		cfg.RingFor = 40 * time.Second
	}
	if cfg.CountryCode == "" {
		cfg.CountryCode = "86"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := serial.Open(cfg.Port, &serial.Mode{BaudRate: cfg.Baud})
	if err != nil {
		return nil, fmt.Errorf("modem: open %s: %w", cfg.Port, err)
	}
	m, err := start(cfg, p, replies, reports, log)
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	return m, nil
}

func start(cfg Config, p io.ReadWriteCloser, replies Replies, reports anxin.DeliveryReports, log *slog.Logger) (*Modem, error) {
	m := &Modem{cfg: cfg, port: p, log: log, replies: replies, reports: reports,
		events: make(chan anxin.StatusReport, 64), done: make(chan struct{})}
	go m.reportLoop()
	rw := struct {
		io.Reader
		io.Writer
	}{&callFilter{r: p, ended: m.lineEnded}, p}
	m.gsm = gsm.New(at.New(rw, at.WithTimeout(cfg.Timeout)), gsm.WithPDUMode)
	if err := m.gsm.Init(); err != nil {
		return nil, fmt.Errorf("modem: init: %w", err)
	}
	if err := m.gsm.StartMessageRx(m.received, func(err error) { m.log.Warn("modem: incoming SMS not decoded", "err", err) }); err != nil {
		return nil, fmt.Errorf("modem: SMS reception: %w", err)
	}
	return m, nil
}

// Close closes the port (the AT layer's reader ends with it).
func (m *Modem) Close() error {
	m.mu.Lock()
	if m.ring != nil {
		m.ring()
	}
	m.mu.Unlock()
	err := m.port.Close()
	close(m.done)
	return err
}

// reportLoop passes call progress on in the order it happened, off the
// port's reader (a report may make escalate send AT commands).
func (m *Modem) reportLoop() {
	for {
		select {
		case r := <-m.events:
			if m.reports == nil {
				continue
			}
			if err := m.reports.Report(context.Background(), r); err != nil {
				m.log.Warn("modem: call status not recorded", "attempt", r.AttemptID, "err", err)
			}
		case <-m.done:
			return
		}
	}
}

// Send sends an SMS (PDU mode, split into concatenated parts as needed)
// or dials a call. The provider id is our attempt id: message references
// wrap at 256 and cannot name a send for long.
func (m *Modem) Send(ctx context.Context, n anxin.Notification) (string, bool, error) {
	if n.Channel == anxin.ChannelVoice {
		return m.dial(ctx, n)
	}
	if sent, err := m.gsm.SendLongMessage(n.To, n.Body); err != nil {
		if len(sent) > 0 {
			// part of the message is on its way, without the link (it comes
			// last): sending it all again would repeat those parts, so one
			// short SMS completes it with the link
			if n.Rest != "" {
				if _, rerr := m.gsm.SendLongMessage(n.To, n.Rest); rerr == nil {
					m.log.Warn("modem: SMS cut short; its link sent in a short SMS of its own",
						"attempt", n.AttemptID, "parts_sent", len(sent), "err", firstLine(err.Error()))
					return n.AttemptID, false, nil
				}
			}
			return "", false, fmt.Errorf("modem: SMS: %d part(s) sent before: %s", len(sent), firstLine(err.Error()))
		}
		if numberRefused(err) {
			return "", false, fmt.Errorf("%w: %w", m.fail("SMS", err), anxin.ErrNumber)
		}
		return "", true, m.fail("SMS", err)
	}
	return n.AttemptID, false, nil
}

// numberRefused reports whether an AT+CMGS error says the recipient's
// number is at fault. +CMS ERROR values 0–127 are RP-causes (3GPP TS
// 27.005 §3.2.5, TS 24.011 E.2) of the relay layer, whose destination is
// the service centre, not the recipient; the network maps the service
// centre's "invalid SME address" (the recipient) to cause 21 (TS 23.040
// §11, TS 23.540: INVALID_SME_ADDRESS → 21 "Short message transfer
// rejected"). The others asked about are not the number's: 1 "unassigned
// number" is the service centre address unknown (UNKNOWN_SERVICE_CENTRE_ADDRESS
// → 1), 28 "unidentified subscriber" our SIM not the service centre's
// subscriber, 30 "unknown subscriber" our own registration, 29 "facility
// rejected" and 38 "network out of order" the network. The modem reports
// errors as numbers (gsm.New's default +CMEE=1).
func numberRefused(err error) bool {
	var cms at.CMSError
	return errors.As(err, &cms) && string(cms) == "21"
}

// fail classifies an AT failure: a timeout may have sent; an error answer
// (CMS/CME ERROR) did not.
func (m *Modem) fail(what string, err error) error {
	if errors.Is(err, at.ErrDeadlineExceeded) {
		return fmt.Errorf("modem: %s: no answer from the modem: %w", what, anxin.ErrMaybeSent)
	}
	return fmt.Errorf("modem: %s: %s", what, firstLine(err.Error()))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s[:min(len(s), 120)]
}

// dial rings the contact: ATD<number>; then BUSY, NO ANSWER or NO CARRIER
// end it; after RingFor the call is hung up. An answered ring is not an
// acceptance: a modem hears no key press.
func (m *Modem) dial(_ context.Context, n anxin.Notification) (string, bool, error) {
	m.mu.Lock()
	old := m.call
	m.mu.Unlock()
	if old != "" {
		// one line: the call still ringing is hung up. It may be another
		// alarm's, whose step is not over: it ended without a key, as a
		// ring the person let go (completed), which leaves that step to its
		// ack timeout; no-answer would end it at once, and two chains on
		// one modem would cut each other's calls step after step.
		m.hangUp(old, "completed")
	}
	m.mu.Lock()
	m.dialing = n.AttemptID
	m.mu.Unlock()
	_, err := m.gsm.Command("D" + n.To + ";")
	m.mu.Lock()
	m.dialing = ""
	m.mu.Unlock()
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "BUSY"):
			m.report(n.AttemptID, "busy") // the number is busy: the call was made and is over
			return n.AttemptID, false, nil
		case strings.Contains(msg, "NO CARRIER"), strings.Contains(msg, "NO DIALTONE"):
			return "", true, m.fail("dial", err)
		}
		return "", true, m.fail("dial", err)
	}
	id := n.AttemptID
	m.mu.Lock()
	if m.call == id { // still ringing (the OK line set it; an end may have come already)
		t := time.AfterFunc(m.cfg.RingFor, func() { m.hangUp(id, "no-answer") })
		m.ring = t.Stop
	}
	m.mu.Unlock()
	return n.AttemptID, false, nil
}

func (m *Modem) hangUp(id, status string) {
	m.mu.Lock()
	if m.call != id {
		m.mu.Unlock()
		return
	}
	m.call, m.ring = "", nil
	m.mu.Unlock()
	if _, err := m.gsm.Command("H"); err != nil {
		m.log.Warn("modem: hang up failed", "err", err)
	}
	m.report(id, status)
}

// lineEnded takes BUSY, NO ANSWER and NO CARRIER while a dialled call
// rings (the callFilter asks for every line); other lines are not its.
func (m *Modem) lineEnded(line string) bool {
	status := ""
	m.mu.Lock()
	if m.dialing != "" && line == "OK" { // ATD answered: the call rings from now on
		m.call, m.dialing = m.dialing, ""
		m.report(m.call, "ringing")
	}
	m.mu.Unlock()
	switch line {
	case "BUSY":
		status = "busy"
	case "NO ANSWER":
		status = "no-answer"
	case "NO CARRIER":
		status = "completed" // answered and hung up, or dropped: not an acceptance
	default:
		return false
	}
	m.mu.Lock()
	id := m.call
	if id == "" {
		m.mu.Unlock()
		return false // the result of a command under way (ATD itself)
	}
	if m.ring != nil {
		m.ring()
	}
	m.call, m.ring = "", nil
	m.mu.Unlock()
	m.report(id, status)
	return true
}

func (m *Modem) report(id, status string) {
	select {
	case m.events <- anxin.StatusReport{AttemptID: id, ProviderID: id, Channel: anxin.ChannelVoice, Status: status}:
	case <-m.done:
	}
}

// received is an incoming SMS (reassembled when concatenated).
func (m *Modem) received(msg gsm.Message) {
	from := m.e164(msg.Number)
	if m.replies == nil {
		m.log.Info("modem: SMS received; replies not handled", "from", anxin.MaskPhone(from))
		return
	}
	// handled on a goroutine of its own: this one reads the modem's lines
	// (call progress), and a reply reads the store and may answer by SMS
	go func() {
		answer, err := m.replies.LocalReply(context.Background(), from, msg.Message)
		if err != nil {
			m.log.Warn("modem: reply not handled", "from", anxin.MaskPhone(from), "err", err)
		}
		if answer == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, _, err := m.Send(ctx, anxin.Notification{To: from, Channel: anxin.ChannelSMS, Body: answer}); err != nil {
			m.log.Warn("modem: answer to a reply not sent", "to", anxin.MaskPhone(from), "err", err)
		}
	}()
}

// e164 adds the country code to a national number.
func (m *Modem) e164(n string) string {
	if strings.HasPrefix(n, "+") {
		return n
	}
	if strings.HasPrefix(n, "00") {
		return "+" + n[2:]
	}
	if strings.HasPrefix(n, m.cfg.CountryCode) && len(n) > 11 {
		return "+" + n
	}
	return "+" + m.cfg.CountryCode + strings.TrimPrefix(n, "0")
}

// Lookup cannot ask a modem what it sent: "cannot tell" (an error), so
// escalate fails over after the delivery timeout instead of sending twice.
func (m *Modem) Lookup(context.Context, anxin.Notification, time.Time) ([]string, error) {
	return nil, errors.New("modem: sends cannot be looked up")
}

// Cancel hangs up the call in progress.
func (m *Modem) Cancel(_ context.Context, providerID string, _ bool) error {
	m.hangUp(providerID, "canceled")
	return nil
}

var _ anxin.Notifier = (*Modem)(nil)
