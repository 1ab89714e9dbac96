package alarmd

import (
	"errors"
	"fmt"
	"time"
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
	Area      string `mapstructure:"area"` // "": every household; else one community
}

// CareConfig is the care register's visit cadence and surges.
type CareConfig struct {
	Cadence map[string]Cadence `mapstructure:"cadence"` // by tier: general, key, high
	Surges  []Surge            `mapstructure:"surges"`
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
	for tier, c := range map[string][2]int{"general": {10, 30}, "key": {5, 15}, "high": {3, 7}} {
		d["care.cadence."+tier+".phone_days"] = c[0]
		d["care.cadence."+tier+".home_days"] = c[1]
	}
}

func (c *APIConfig) validate() error {
	var errs []error
	for i := range c.Tokens {
		t := &c.Tokens[i]
		key := fmt.Sprintf("api.tokens[%d]", i)
		if err := readSecret(key+".token", &t.Token, t.TokenFile); err != nil {
			errs = append(errs, err)
		}
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("config: %s.name is empty", key))
		}
		if len(t.Token.Reveal()) < 16 {
			errs = append(errs, fmt.Errorf("config: %s.token must be at least 16 characters", key))
		}
	}
	return errors.Join(errs...)
}

func (c *CareConfig) validate() error {
	var errs []error
	for tier, cd := range c.Cadence {
		if cd.PhoneDays < 1 || cd.HomeDays < 1 {
			errs = append(errs, fmt.Errorf("config: care.cadence.%s days must be at least 1", tier))
		}
	}
	for i, s := range c.Surges {
		from, err1 := time.Parse(time.DateOnly, s.From)
		to, err2 := time.Parse(time.DateOnly, s.To)
		if err1 != nil || err2 != nil || to.Before(from) {
			errs = append(errs, fmt.Errorf("config: care.surges[%d] needs from <= to as YYYY-MM-DD", i))
		}
	}
	return errors.Join(errs...)
}
