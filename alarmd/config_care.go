package alarmd

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/internal/configerr"
)

// APIConfig protects the records API. (Helper H owns this file.)
type APIConfig struct {
	Tokens []APIToken `mapstructure:"tokens"`
}

// APIToken is one bearer token of the records API.
type APIToken struct {
	Name      string `mapstructure:"name"`
	Token     Secret `mapstructure:"token"`
	TokenFile string `mapstructure:"token_file"`
	Area      string `mapstructure:"area"` // "": every household; "村", "乡镇/村" or "乡镇/*" (anxin.ParseArea)
}

// CareConfig is the care register's visit cadence, surges and time zone.
type CareConfig struct {
	Cadence  map[string]Cadence `mapstructure:"cadence"` // by tier: irregular, general, key, high
	Surges   []Surge            `mapstructure:"surges"`
	Timezone string             `mapstructure:"timezone"` // where visit days begin (IANA name)
}

// Cadence is how often a tier is visited, in days.
type Cadence struct {
	PhoneDays int `mapstructure:"phone_days"`
	HomeDays  int `mapstructure:"home_days"`
}

// Surge raises the cadence to daily between two dates (festivals, extreme weather).
type Surge struct {
	From   string `mapstructure:"from"` // 2006-01-02
	To     string `mapstructure:"to"`
	Reason string `mapstructure:"reason"`
}

func apiDefaults(d map[string]any) {}

func careDefaults(d map[string]any) {
	for tier, c := range care.DefaultCadence() {
		d["care.cadence."+string(tier)+".phone_days"] = c.PhoneDays
		d["care.cadence."+string(tier)+".home_days"] = c.HomeDays
	}
	d["care.timezone"] = "Asia/Shanghai"
}

func (c *APIConfig) validate() error {
	var errs []error
	names := map[string]bool{}
	values := map[string]bool{}
	for i := range c.Tokens {
		t := &c.Tokens[i]
		key := fmt.Sprintf("api.tokens[%d]", i)
		if err := readSecret(key+".token", &t.Token, t.TokenFile); err != nil {
			errs = append(errs, err)
		}
		if t.Name == "" {
			errs = append(errs, missing(key+".name", "is empty"))
		} else if names[t.Name] {
			errs = append(errs, typed(configerr.Duplicate(key+".name", t.Name)))
		}
		names[t.Name] = true
		if len(t.Token.Reveal()) < 16 {
			errs = append(errs, badValue("token-short", key+".token", "", "must be at least 16 characters"))
		} else if values[t.Token.Reveal()] {
			errs = append(errs, badValue("token-twice", key+".token", "", "is the same as another token's"))
		}
		values[t.Token.Reveal()] = true
		if len(t.Area) > 200 {
			errs = append(errs, badValue("area-long", key+".area", "", "is longer than 200 bytes"))
		} else if _, err := anxin.ParseArea(t.Area); err != nil {
			errs = append(errs, badValue("area", key+".area", t.Area, "%v", err))
		}
	}
	return errors.Join(errs...)
}

// APITokens are the tokens as the API checks them.
func (c *APIConfig) APITokens() []api.Token {
	out := make([]api.Token, 0, len(c.Tokens))
	for _, t := range c.Tokens {
		out = append(out, api.Token{Name: t.Name, Token: t.Token.Reveal(), Area: t.Area})
	}
	return out
}

var tiers = []string{string(anxin.TierIrregular), string(anxin.TierGeneral), string(anxin.TierKey), string(anxin.TierHigh)}

func (c *CareConfig) validate() error {
	var errs []error
	for tier, cd := range c.Cadence {
		if !slices.Contains(tiers, tier) {
			ce := configerr.NewConfigError(configerr.KeyUnknown, "care.cadence."+tier, "tier must be irregular, general, key or high").WithChoices(tiers...)
			errs = append(errs, typed(ce))
			continue
		}
		if cd.PhoneDays < 1 || cd.HomeDays < 1 || cd.PhoneDays > 366 || cd.HomeDays > 366 {
			errs = append(errs, outOfRange("care.cadence."+tier, fmt.Sprintf("%d/%d days", cd.PhoneDays, cd.HomeDays), "1..366"))
		}
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		errs = append(errs, notForm("care.timezone", clipKey(c.Timezone), "zone", fmt.Sprintf("%q is not a time zone (Asia/Shanghai)", clipKey(c.Timezone))))
	}
	for i, s := range c.Surges {
		from, err1 := time.Parse(time.DateOnly, s.From)
		to, err2 := time.Parse(time.DateOnly, s.To)
		if err1 != nil || err2 != nil || to.Before(from) {
			errs = append(errs, badValue("surge-dates", fmt.Sprintf("care.surges[%d]", i), "", "needs from <= to as YYYY-MM-DD"))
		} else if to.Sub(from) > 366*24*time.Hour {
			errs = append(errs, outOfRange(fmt.Sprintf("care.surges[%d]", i), s.From+".."+s.To, "at most a year"))
		}
	}
	return errors.Join(errs...)
}

// Plan is the visit cadence the care register schedules with. The config
// is validated: errors here are ones validate reports first.
func (c *CareConfig) Plan() (care.Plan, error) {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return care.Plan{}, fmt.Errorf("config: care.timezone: %w", err)
	}
	p := care.Plan{Cadence: care.DefaultCadence(), Location: loc}
	for tier, cd := range c.Cadence {
		p.Cadence[anxin.Tier(tier)] = care.Cadence{PhoneDays: cd.PhoneDays, HomeDays: cd.HomeDays}
	}
	for i, s := range c.Surges {
		from, err1 := time.ParseInLocation(time.DateOnly, s.From, loc)
		to, err2 := time.ParseInLocation(time.DateOnly, s.To, loc)
		if err := errors.Join(err1, err2); err != nil {
			return care.Plan{}, fmt.Errorf("config: care.surges[%d]: %w", i, err)
		}
		p.Surges = append(p.Surges, care.Surge{From: from, To: to, Reason: s.Reason})
	}
	return p, nil
}

func clipKey(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
