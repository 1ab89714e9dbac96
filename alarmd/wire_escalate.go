package alarmd

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/aliyun"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/modem"
	"github.com/anxin-care/anxin/twilio"
)

// newEscalator builds the contact-chain walker: escalate.Service over the
// store, with the Twilio notifier when provider twilio is configured and the
// log notifier otherwise, and its routes (/ack/, /twilio/…).
func newEscalator(m *Main) (anxin.Escalator, func(mux *http.ServeMux), error) {
	cfg := m.Config.Notify
	log := m.Logger.With("component", "escalate")
	alarms, ok := any(m.Store).(escalate.Alarms)
	if !ok {
		log.Error("the store cannot read alarms yet: escalation only logs")
		return logEscalator{m: m}, func(*http.ServeMux) {}, nil
	}
	visits, _ := any(m.Store).(anxin.Visits)
	secret, err := m.ackSecret()
	if err != nil {
		return nil, nil, err
	}
	book, err := cfg.Words()
	if err != nil {
		return nil, nil, err
	}
	notifiers := map[string]anxin.Notifier{}
	var svcRef atomic.Pointer[escalate.Service]
	late := newLateService(&svcRef)
	var ali *aliyun.Notifier
	for _, p := range cfg.Providers() {
		switch p {
		case "log":
			notifiers[p] = &escalate.LogNotifier{Logger: log.With("notifier", "log")}
		case "twilio":
			tw, err := twilio.New(twilio.Config{
				AccountSID: cfg.Twilio.AccountSID, AuthToken: cfg.Twilio.AuthToken.Reveal(), From: cfg.Twilio.From,
				PublicURL: m.Config.HTTP.PublicURL, APIBaseURL: cfg.Twilio.APIBaseURL,
				CallEvents: true, DetectMachines: true, Words: book,
			})
			if err != nil {
				return nil, nil, err
			}
			notifiers[p] = tw
		case "aliyun":
			a := cfg.Aliyun
			n, err := aliyun.New(aliyun.Config{
				AccessKeyID: a.AccessKeyID, AccessKeySecret: a.AccessKeySecret.Reveal(), SignName: a.SignName,
				SMSTemplate: a.SMSTemplate, TTSTemplate: a.TTSTemplate, CalledShowNumber: a.CalledShowNumber,
				SMSEndpoint: a.SMSEndpoint, VoiceEndpoint: a.VoiceEndpoint, Protocol: a.Protocol,
			})
			if err != nil {
				return nil, nil, err
			}
			notifiers[p], ali = n, n
		case "modem":
			// replies and call progress go to the service built below
			md, err := modem.Open(modem.Config{Port: cfg.Modem.Port, Baud: cfg.Modem.Baud, RingFor: cfg.Modem.RingFor},
				late, late, log.With("notifier", "modem"))
			if err != nil {
				return nil, nil, err
			}
			m.closers = append(m.closers, md.Close)
			notifiers[p] = md
		}
	}
	provider := cfg.Providers()[0]
	notifier := notifiers[provider]
	m.notifier = notifier // work order SMS go the same way
	var routes map[anxin.Channel][]escalate.Route
	if len(cfg.Channels.SMS) > 0 {
		routes = map[anxin.Channel][]escalate.Route{}
		for ch, names := range map[anxin.Channel][]string{anxin.ChannelSMS: cfg.Channels.SMS, anxin.ChannelVoice: cfg.Channels.Voice} {
			for _, name := range names {
				routes[ch] = append(routes[ch], escalate.Route{Provider: name, Notifier: notifiers[name]})
			}
		}
	}
	var hooks *twilio.Webhooks
	var cluster escalate.Config
	if m.Config.Store.URL != "" {
		c := m.Config.Cluster
		cluster = escalate.Config{Instance: c.InstanceName(), Lease: c.Lease, Poll: c.Poll}
		log.Info("chains are claimed in the shared store", "instance", cluster.Instance, "lease", c.Lease, "poll", c.Poll)
	}
	svc, err := escalate.New(escalate.Options{
		Config: escalate.Config{
			PublicURL: m.Config.HTTP.PublicURL, AckTimeout: cfg.AckTimeout, Rounds: cfg.Rounds, ElderFirst: cfg.ElderFirst,
			AckSecret: secret, AckLinkTTL: cfg.AckLinkTTL, FollowUpAfter: cfg.FollowUpAfter, SMSReplies: cfg.SMSReplies,
			DeliveryTimeout: cfg.DeliveryTimeout, RouteTries: cfg.RouteTries, DownAfter: cfg.DownAfter, DownFor: cfg.DownFor,
			Installers: installerContacts(cfg.Installers),
			Location:   book.Location(), Words: book,
			// several alarmd on one PostgreSQL: chains are claimed in the
			// database (docs/escalation.md, "Several alarmd"); SQLite: one
			// process, Poll 0
			Instance: cluster.Instance, Lease: cluster.Lease, Poll: cluster.Poll,
		},
		Store: m.Store, Alarms: alarms, Households: m.Households, Visits: visits,
		Notifier: notifier, Provider: provider, Routes: routes, Clock: escalate.SystemClock{NowFunc: m.Now}, Logger: log,
		Metrics: m.Metrics,
	})
	if err != nil {
		return nil, nil, err
	}
	svcRef.Store(svc)
	late.started()
	if notifiers["twilio"] != nil {
		// the replay memory is in the store: a webhook handled before a
		// restart is still recognised after it (for 24 h)
		hooks = twilio.NewWebhooks(cfg.Twilio.AuthToken.Reveal(), m.Config.HTTP.PublicURL, svc, log.With("webhooks", "twilio"),
			twilio.WithReplayStore(m.Store, twilio.DefaultReplayWindow), twilio.WithClock(m.Now), twilio.WithWords(book))
		if err := hooks.Register(m.Metrics); err != nil {
			_ = svc.Close()
			return nil, nil, err
		}
	}
	var aliHooks *aliyun.Webhooks
	if ali != nil {
		if aliHooks, err = aliyun.NewWebhooks(cfg.Aliyun.ReportSecret.Reveal(), svc, ali.Confirm, log.With("webhooks", "aliyun")); err != nil {
			_ = svc.Close()
			return nil, nil, err
		}
	}
	if len(cfg.Installers) == 0 {
		log.Warn("notify.installers is empty: device silent, gateway offline, low battery and tamper alarms are only logged")
	}
	if err := svc.Start(context.Background()); err != nil {
		return nil, nil, err
	}
	m.closers = append(m.closers, svc.Close)
	return svc, func(mux *http.ServeMux) {
		mux.Handle("/ack/", svc.AckHandler())
		if hooks != nil {
			hooks.Mount(mux)
		} else {
			// without Twilio nobody may post reports: answer 404 rather than accept unsigned ones
			mux.Handle("/twilio/", http.NotFoundHandler())
		}
		if aliHooks != nil {
			aliHooks.Mount(mux)
		}
	}, nil
}

// logEscalator only logs: used while the store cannot read alarms.
type logEscalator struct{ m *Main }

func (e logEscalator) Escalate(_ context.Context, a anxin.Alarm) error {
	e.m.Logger.Info("escalate (log only)", "alarm", a.ID, "household", a.Household, "rule", a.Rule, "severity", a.Severity)
	return nil
}

func (e logEscalator) Resolve(_ context.Context, alarmID, reason string) error {
	e.m.Logger.Info("resolve (log only)", "alarm", alarmID, "reason", reason)
	return nil
}

func installerContacts(in []Installer) []anxin.Contact {
	out := make([]anxin.Contact, 0, len(in))
	for _, i := range in {
		out = append(out, anxin.Contact{Name: i.Name, Phone: i.Phone}) // escalate gives them the installer role
	}
	return out
}

// lateService passes what the modem hears to the escalation service, built
// after the modem: what comes before then (a "1" sent during a restart, read
// from the SIM as the modem opens) waits for it, at most lateServiceWait.
type lateService struct {
	p     *atomic.Pointer[escalate.Service]
	ready chan struct{}
	once  *sync.Once
}

// lateServiceWait bounds the wait for the service (its start failed: alarmd
// is stopping).
const lateServiceWait = 30 * time.Second

func newLateService(p *atomic.Pointer[escalate.Service]) lateService {
	return lateService{p: p, ready: make(chan struct{}), once: new(sync.Once)}
}

// started says the service is stored.
func (l lateService) started() { l.once.Do(func() { close(l.ready) }) }

// service is the escalation service, waited for; nil if it did not come.
func (l lateService) service(ctx context.Context) *escalate.Service {
	if s := l.p.Load(); s != nil {
		return s
	}
	t := time.NewTimer(lateServiceWait)
	defer t.Stop()
	select {
	case <-l.ready:
	case <-ctx.Done():
	case <-t.C:
	}
	return l.p.Load()
}

var errNotReady = anxin.Errorf(anxin.EINTERNAL, "escalation is not started yet")

func (l lateService) LocalReply(ctx context.Context, from, body string) (string, error) {
	if s := l.service(ctx); s != nil {
		return s.LocalReply(ctx, from, body)
	}
	return "", errNotReady
}

func (l lateService) Report(ctx context.Context, r anxin.StatusReport) error {
	if s := l.service(ctx); s != nil {
		return s.Report(ctx, r)
	}
	return errNotReady
}

func (l lateService) Press(ctx context.Context, attemptID, providerID, digits string) (anxin.KeyPress, error) {
	if s := l.service(ctx); s != nil {
		return s.Press(ctx, attemptID, providerID, digits)
	}
	return anxin.KeyPress{}, errNotReady
}

func (l lateService) Reply(ctx context.Context, from, body string) (string, error) {
	if s := l.service(ctx); s != nil {
		return s.Reply(ctx, from, body)
	}
	return "", errNotReady
}
