package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// bannerWriter prints the few lines a newcomer needs between the log lines:
// what runs where, and what to do when the alarm comes.
type bannerWriter struct {
	out  io.Writer
	base string // http://host:port of alarmd

	mu     sync.Mutex
	ackFor map[string]bool // alarms whose first ack link was announced
}

const rule = "================================================================================"

func (b *bannerWriter) print(lines ...string) {
	var sb strings.Builder
	sb.WriteString("\n" + rule + "\n")
	for _, l := range lines {
		sb.WriteString("  " + l + "\n")
	}
	sb.WriteString(rule + "\n\n")
	_, _ = io.WriteString(b.out, sb.String())
}

func (b *bannerWriter) start(o *options, dir, mqttAddr string) {
	b.print(
		"anxin demo: alarmd (embedded broker, SQLite, log notifier) + gatewayd with a simulated kit",
		"  water meter (CJ/T 188), tracker (NMEA) and call button (433 MHz), each on a pseudo-terminal",
		fmt.Sprintf("household %s: elder 张** (high risk), chain: 2 family contacts, then the grid worker", Household),
		fmt.Sprintf("the call button is pressed in %s; each contact has %s to accept before the next", o.pressAfter, o.ackTimeout),
		"",
		"alarmd HTTP  "+b.base+"   (/healthz, /metrics, /ack/…, /api/v1/…)",
		"web app      "+b.base+"/app/   worker: "+DemoWorker+" / "+DemoPassword+"   operator (告警看板): "+DemoOperator+" / "+DemoPassword,
		"MQTT broker  tcp://"+mqttAddr+"   (mosquitto_sub -p <port> -t 'anxin/v1/#' -v)",
		"data         "+dir,
		"records API  curl -H 'Authorization: Bearer "+DemoToken+"' "+b.base+"/api/v1/visits",
		"Ctrl-C stops everything cleanly.",
	)
}

func (b *bannerWriter) ackLink(alarm, attempt, to, link string) {
	b.mu.Lock()
	if b.ackFor == nil {
		b.ackFor = map[string]bool{}
	}
	first := !b.ackFor[alarm]
	b.ackFor[alarm] = true
	b.mu.Unlock()
	head := "the chain moved on: the next contact got an SMS with their own link"
	if first {
		head = "ALARM: the call button was pressed. The first contact got an SMS with this link"
	}
	b.print(
		head+fmt.Sprintf(" (%s, %s):", attempt, to),
		"",
		"    "+link,
		"",
		"open it in a browser and press 我来处理 (\"I'll handle it\") to accept, or:",
		"    curl -X POST "+link,
	)
}

func (b *bannerWriter) accepted(alarm, by, via string) {
	b.print(fmt.Sprintf("ACCEPTED by %s via %s: the chain stops; the others are told by SMS.", by, via),
		"the outcome is written as a visit record (remote monitoring) with a follow-up visit due.")
}

func (b *bannerWriter) outcome(alarm, outcome, visit string) {
	head := "visit record " + visit + " written for " + Household + ". See it with:"
	if outcome == "unanswered" {
		head = "NOBODY ACCEPTED: every contact was tried twice; the alarm is unanswered and the community\n" +
			"  duty contact was told by SMS. The outcome is visit record " + visit + " (a follow-up is due). See it with:"
	}
	b.print(head,
		"    curl -H 'Authorization: Bearer "+DemoToken+"' '"+b.base+"/api/v1/visits?household="+Household+"'",
		"    curl -H 'Authorization: Bearer "+DemoToken+"' "+b.base+"/api/v1/alarms",
		"Ctrl-C to stop.")
}

// watchHandler passes every record on and shows banners for the few that
// a newcomer must act on. It reads only what the log line already holds
// (phone numbers there are masked).
type watchHandler struct {
	next slog.Handler
	b    *bannerWriter
}

func (h *watchHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *watchHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &watchHandler{next: h.next.WithAttrs(as), b: h.b}
}

func (h *watchHandler) WithGroup(name string) slog.Handler {
	return &watchHandler{next: h.next.WithGroup(name), b: h.b}
}

func (h *watchHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.next.Handle(ctx, r)
	switch r.Message {
	case "notify (log provider: not sent)", "alarm accepted", "outcome recorded":
	default:
		return err
	}
	attrs := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.Resolve().String()
		return true
	})
	alarm := attrs["alarm"]
	if alarm == "" { // attempts are <alarm>/<purpose>/<step>/<channel>
		alarm, _, _ = strings.Cut(attrs["attempt"], "/")
	}
	switch {
	case r.Message == "alarm accepted":
		h.b.accepted(alarm, attrs["by"], attrs["via"])
	case r.Message == "outcome recorded":
		h.b.outcome(alarm, attrs["outcome"], attrs["visit"])
	case attrs["channel"] == "sms" && attrs["ack_url"] != "":
		h.b.ackLink(alarm, attrs["attempt"], attrs["to"], attrs["ack_url"])
	}
	return err
}
