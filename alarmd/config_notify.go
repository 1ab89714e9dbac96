package alarmd

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/configerr"
	"github.com/anxin-care/anxin/words"
)

// NotifyConfig is how alarms reach people. (Helper G owns this file.)
type NotifyConfig struct {
	Provider string `mapstructure:"provider"` // log | twilio | aliyun: the one provider when channels is empty
	// Channels name the providers of each channel in failover order (log,
	// twilio, aliyun); empty: provider for both.
	Channels        ChannelsConfig `mapstructure:"channels"`
	DeliveryTimeout time.Duration  `mapstructure:"delivery_timeout"` // no delivery report this long: next channel (0: never)
	RouteTries      int            `mapstructure:"route_tries"`      // retryable failures before the next channel
	DownAfter       int            `mapstructure:"down_after"`       // failures in a row that mark a provider down
	DownFor         time.Duration  `mapstructure:"down_for"`         // how long it stays down
	Aliyun          AliyunConfig   `mapstructure:"aliyun"`
	Modem           ModemConfig    `mapstructure:"modem"`
	AckTimeout      time.Duration  `mapstructure:"ack_timeout"` // wait per contact before the next
	Rounds          int            `mapstructure:"rounds"`      // walks of the whole chain before "unanswered"
	AckSecret       Secret         `mapstructure:"ack_secret"`  // HMAC key of ack links; empty: random per start
	AckSecretFile   string         `mapstructure:"ack_secret_file"`
	AckLinkTTL      time.Duration  `mapstructure:"ack_link_ttl"`
	ElderFirst      bool           `mapstructure:"elder_first"`     // warning alarms ring the elder before the chain
	FollowUpAfter   time.Duration  `mapstructure:"follow_up_after"` // outcome visit's follow-up is due this long after
	SMSReplies      bool           `mapstructure:"sms_replies"`     // accept SMS replies (never from +86, where they cannot reach us)
	Locale          string         `mapstructure:"locale"`          // language of every text people read: zh-CN | en
	TimeZone        string         `mapstructure:"time_zone"`       // zone of the times in them (IANA name)
	Twilio          TwilioConfig   `mapstructure:"twilio"`
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

// ChannelsConfig is the failover order of each channel.
type ChannelsConfig struct {
	SMS   []string `mapstructure:"sms"`
	Voice []string `mapstructure:"voice"`
}

// AliyunConfig is the Alibaba Cloud account used by the aliyun provider.
type AliyunConfig struct {
	AccessKeyID         string `mapstructure:"access_key_id"`
	AccessKeySecret     Secret `mapstructure:"access_key_secret"`
	AccessKeySecretFile string `mapstructure:"access_key_secret_file"`
	SignName            string `mapstructure:"sign_name"`          // registered SMS signature
	SMSTemplate         string `mapstructure:"sms_template"`       // template code with ${name} ${where} ${what} ${link}
	TTSTemplate         string `mapstructure:"tts_template"`       // voice TTS template code with ${name} ${where} ${what}
	CalledShowNumber    string `mapstructure:"called_show_number"` // the number calls show
	SMSEndpoint         string `mapstructure:"sms_endpoint"`       // host[:port]; empty: dysmsapi.aliyuncs.com
	VoiceEndpoint       string `mapstructure:"voice_endpoint"`     // host[:port]; empty: dyvmsapi.aliyuncs.com
	Protocol            string `mapstructure:"protocol"`           // https | http (tests)
	// ReportSecret is the path part of the report URLs given to Aliyun:
	// {public_url}/aliyun/<report_secret>/sms_report (reports are unsigned).
	ReportSecret     Secret `mapstructure:"report_secret"`
	ReportSecretFile string `mapstructure:"report_secret_file"`
}

// Providers is every provider named in channels, or provider alone.
func (c *NotifyConfig) Providers() []string {
	if len(c.Channels.SMS) == 0 && len(c.Channels.Voice) == 0 {
		return []string{c.Provider}
	}
	var out []string
	for _, p := range append(append([]string{}, c.Channels.SMS...), c.Channels.Voice...) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// ModemConfig is the 4G/GSM modem used by the modem provider.
type ModemConfig struct {
	Port    string        `mapstructure:"port"`     // serial device, e.g. /dev/ttyUSB2
	Baud    int           `mapstructure:"baud"`     // default 115200
	RingFor time.Duration `mapstructure:"ring_for"` // a call rings this long before it is hung up
}

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
	d["notify.channels.sms"] = []string{}
	d["notify.channels.voice"] = []string{}
	d["notify.delivery_timeout"] = "2m"
	d["notify.route_tries"] = 3
	d["notify.down_after"] = 5
	d["notify.down_for"] = "5m"
	for _, k := range []string{"access_key_id", "access_key_secret", "access_key_secret_file", "sign_name", "sms_template",
		"tts_template", "called_show_number", "sms_endpoint", "voice_endpoint", "report_secret", "report_secret_file"} {
		d["notify.aliyun."+k] = ""
	}
	d["notify.aliyun.protocol"] = "https"
	d["notify.modem.port"] = ""
	d["notify.modem.baud"] = 115200
	d["notify.modem.ring_for"] = "40s"
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
	add(readSecret("notify.aliyun.access_key_secret", &c.Aliyun.AccessKeySecret, c.Aliyun.AccessKeySecretFile))
	add(readSecret("notify.aliyun.report_secret", &c.Aliyun.ReportSecret, c.Aliyun.ReportSecretFile))
	if c.DeliveryTimeout < 0 {
		add(outOfRange("notify.delivery_timeout", c.DeliveryTimeout, ">= 0s"))
	}
	add(positiveDur("notify.down_for", c.DownFor))
	add(positive("notify.route_tries", c.RouteTries, 1, 100))
	add(positive("notify.down_after", c.DownAfter, 1, 1000))
	if (len(c.Channels.SMS) == 0) != (len(c.Channels.Voice) == 0) {
		add(needs("notify.channels", "needs both sms and voice (or neither)", "notify.channels.sms", "notify.channels.voice"))
	}
	for ch, list := range map[string][]string{"sms": c.Channels.SMS, "voice": c.Channels.Voice} {
		for i, p := range list {
			if slices.Contains(list[:i], p) {
				ce := configerr.Duplicate("notify.channels."+ch, p)
				ce.Detail = fmt.Sprintf("%q is named twice for one channel", p)
				add(typed(ce))
			}
		}
	}
	add(positiveDur("notify.ack_timeout", c.AckTimeout))
	add(positiveDur("notify.ack_link_ttl", c.AckLinkTTL))
	add(positiveDur("notify.follow_up_after", c.FollowUpAfter))
	if c.AckSecret != "" && len(c.AckSecret) < 16 {
		add(badValue("ack-secret-short", "notify.ack_secret", "", "must be at least 16 bytes"))
	}
	add(positive("notify.rounds", c.Rounds, 1, 10))
	if len(c.Installers) > maxInstallers {
		add(outOfRange("notify.installers", fmt.Sprintf("%d people", len(c.Installers)), fmt.Sprintf("at most %d", maxInstallers)))
	}
	for i, in := range c.Installers {
		if !anxin.ValidPhone(in.Phone) {
			add(notForm(fmt.Sprintf("notify.installers[%d].phone", i), "", "phone", "is not a valid E.164 phone number"))
		}
	}
	if _, err := c.Words(); err != nil {
		add(badValue("locale", "notify.locale", "", "notify.locale or notify.time_zone: %v", err))
	}
	for _, p := range c.Providers() {
		add(c.validateProvider(p))
	}
	return errors.Join(errs...)
}

// validateProvider checks the settings one named provider needs.
func (c *NotifyConfig) validateProvider(p string) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	switch p {
	case "log":
	case "aliyun":
		a := &c.Aliyun
		if a.AccessKeyID == "" || a.AccessKeySecret == "" || a.SignName == "" || a.SMSTemplate == "" {
			add(needs("notify.aliyun", "needs access_key_id, access_key_secret, sign_name and sms_template",
				"access_key_id", "access_key_secret", "sign_name", "sms_template"))
		}
		if (a.TTSTemplate == "") != (a.CalledShowNumber == "") {
			add(needs("notify.aliyun.tts_template", "tts_template and called_show_number go together", "notify.aliyun.called_show_number"))
		}
		if len(a.ReportSecret) < 16 {
			add(missing("notify.aliyun.report_secret", "(or report_secret_file) of at least 16 characters is required"))
		}
		add(badPort("notify.aliyun.sms_endpoint", anxin.CheckHostPort(a.SMSEndpoint)))
		add(badPort("notify.aliyun.voice_endpoint", anxin.CheckHostPort(a.VoiceEndpoint)))
		if a.Protocol != "https" && a.Protocol != "http" {
			add(notChoice("notify.aliyun.protocol", a.Protocol, "https", "http"))
		}
	case "modem":
		if c.Modem.Port == "" {
			add(missing("notify.modem.port", "is required for the modem provider"))
		}
		add(positive("notify.modem.baud", c.Modem.Baud, 1200, 4_000_000))
		add(positiveDur("notify.modem.ring_for", c.Modem.RingFor))
	case "twilio":
		if !accountSID.MatchString(c.Twilio.AccountSID) {
			if c.Twilio.AccountSID == "" {
				add(missing("notify.twilio.account_sid", "must match AC followed by 32 hex digits"))
			} else {
				add(badValue("twilio-sid", "notify.twilio.account_sid", "", "must match AC followed by 32 hex digits"))
			}
		}
		if c.Twilio.AuthToken == "" {
			add(missing("notify.twilio.auth_token", "(or auth_token_file) is required for provider twilio"))
		}
		if c.Twilio.From == "" {
			add(missing("notify.twilio.from", "is required for provider twilio"))
		}
		if c.Twilio.APIBaseURL != "" {
			add(checkURL("notify.twilio.api_base_url", c.Twilio.APIBaseURL, "http", "https"))
		}
	default:
		ce := configerr.NotChoice("notify.provider", p, "log", "twilio", "aliyun", "modem")
		ce.Detail = fmt.Sprintf("notify.provider or notify.channels names %q, not log, twilio, aliyun or modem", p)
		add(typed(ce))
	}
	return errors.Join(errs...)
}

// Words is the book that writes people's texts in notify.locale and
// notify.time_zone.
func (c *NotifyConfig) Words() (*words.Book, error) { return words.New(c.Locale, c.TimeZone) }
