package alarmd

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

// NotifyConfig is how alarms reach people. (Helper G owns this file.)
type NotifyConfig struct {
	Provider      string        `mapstructure:"provider"`    // log | twilio
	AckTimeout    time.Duration `mapstructure:"ack_timeout"` // wait per contact before the next
	Rounds        int           `mapstructure:"rounds"`      // walks of the whole chain before "unanswered"
	AckSecret     Secret        `mapstructure:"ack_secret"`  // HMAC key of ack links; empty: random per start
	AckSecretFile string        `mapstructure:"ack_secret_file"`
	AckLinkTTL    time.Duration `mapstructure:"ack_link_ttl"`
	ElderFirst    bool          `mapstructure:"elder_first"`     // warning alarms ring the elder before the chain
	FollowUpAfter time.Duration `mapstructure:"follow_up_after"` // outcome visit's follow-up is due this long after
	SMSReplies    bool          `mapstructure:"sms_replies"`     // accept SMS replies (never from +86, where they cannot reach us)
	Locale        string        `mapstructure:"locale"`          // language of every text people read: zh-CN | en
	TimeZone      string        `mapstructure:"time_zone"`       // zone of the times in them (IANA name)
	Twilio        TwilioConfig  `mapstructure:"twilio"`
	// Installers are the installer/duty route: alarms routed to installers
	// (device silent, gateway offline, low battery, tamper) reach them by
	// SMS, once per device per day. Empty: such alarms are only logged.
	Installers []Installer `mapstructure:"installers"`
}

// Installer is one person on the installer/duty route.
type Installer struct {
	Name  string `mapstructure:"name"`
	Phone string `mapstructure:"phone"`
}

// maxInstallers bounds the installer route (each is one SMS per device-day).
const maxInstallers = 10

// TwilioConfig is the Twilio account used by provider twilio.
type TwilioConfig struct {
	AccountSID    string `mapstructure:"account_sid"`
	AuthToken     Secret `mapstructure:"auth_token"`
	AuthTokenFile string `mapstructure:"auth_token_file"`
	From          string `mapstructure:"from"`
	APIBaseURL    string `mapstructure:"api_base_url"` // tests and proxies
}

func notifyDefaults(d map[string]any) {
	d["notify.provider"] = "log"
	d["notify.ack_timeout"] = "3m"
	d["notify.rounds"] = 2
	d["notify.ack_secret"] = ""
	d["notify.ack_secret_file"] = ""
	d["notify.ack_link_ttl"] = "24h"
	d["notify.elder_first"] = true
	d["notify.follow_up_after"] = "24h"
	d["notify.sms_replies"] = false
	d["notify.locale"] = words.DefaultLocale
	d["notify.time_zone"] = words.DefaultZone
	d["notify.twilio.account_sid"] = ""
	d["notify.twilio.auth_token"] = ""
	d["notify.twilio.auth_token_file"] = ""
	d["notify.twilio.from"] = ""
	d["notify.twilio.api_base_url"] = ""
}

var accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)

func (c *NotifyConfig) validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(readSecret("notify.ack_secret", &c.AckSecret, c.AckSecretFile))
	add(readSecret("notify.twilio.auth_token", &c.Twilio.AuthToken, c.Twilio.AuthTokenFile))
	add(positiveDur("notify.ack_timeout", c.AckTimeout))
	add(positiveDur("notify.ack_link_ttl", c.AckLinkTTL))
	add(positiveDur("notify.follow_up_after", c.FollowUpAfter))
	if c.AckSecret != "" && len(c.AckSecret) < 16 {
		add(errors.New("config: notify.ack_secret must be at least 16 bytes"))
	}
	add(positive("notify.rounds", c.Rounds, 1, 10))
	if len(c.Installers) > maxInstallers {
		add(fmt.Errorf("config: notify.installers has %d people, at most %d", len(c.Installers), maxInstallers))
	}
	for i, in := range c.Installers {
		if !anxin.ValidPhone(in.Phone) {
			add(fmt.Errorf("config: notify.installers[%d] has no valid E.164 phone number", i))
		}
	}
	if _, err := c.Words(); err != nil {
		add(fmt.Errorf("config: notify.locale or notify.time_zone: %w", err))
	}
	switch c.Provider {
	case "log":
	case "twilio":
		if !accountSID.MatchString(c.Twilio.AccountSID) {
			add(errors.New("config: notify.twilio.account_sid must match AC followed by 32 hex digits"))
		}
		if c.Twilio.AuthToken == "" {
			add(errors.New("config: notify.twilio.auth_token (or auth_token_file) is required for provider twilio"))
		}
		if c.Twilio.From == "" {
			add(errors.New("config: notify.twilio.from is required for provider twilio"))
		}
		if c.Twilio.APIBaseURL != "" {
			add(checkURL("notify.twilio.api_base_url", c.Twilio.APIBaseURL, "http", "https"))
		}
	default:
		add(fmt.Errorf("config: notify.provider %q is not log or twilio", c.Provider))
	}
	return errors.Join(errs...)
}

// Words is the book that writes people's texts in notify.locale and
// notify.time_zone.
func (c *NotifyConfig) Words() (*words.Book, error) { return words.New(c.Locale, c.TimeZone) }
