package alarmd

import (
	"context"
	"reflect"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/mqtt"
)

// Reload re-reads the config file, the households file and the rules file
// (SIGHUP). Everything is parsed first; if anything is invalid nothing
// changes and the error (also logged) says exactly what was wrong. Settings
// that need a restart (listen addresses, store path, broker) are logged,
// not applied.
func (m *Main) Reload(ctx context.Context) error {
	cfg := m.Config
	if m.ConfigPath != "" {
		c, err := Load(m.ConfigPath)
		if err != nil {
			m.Logger.Error("reload rejected: config, keeping the running one", "zh", ConfigErrorText(err, AtReload), "err", err)
			return err
		}
		cfg = c
	}
	var households []anxin.Household
	var hash string
	if m.register != nil && cfg.HouseholdsFile != "" {
		var err error
		if households, hash, err = m.register.ReadFile(ctx, cfg.HouseholdsFile); err != nil {
			m.Logger.Error("reload rejected: households, keeping the running ones", "file", cfg.HouseholdsFile, "zh", ConfigErrorText(err, AtReload), "err", err)
			return err
		}
	}
	rc, err := loadRules(cfg)
	if err != nil {
		m.Logger.Error("reload rejected: rules, keeping the running ones", "zh", ConfigErrorText(err, AtReload), "err", err)
		return err
	}
	var passwords *mqtt.Passwords
	if m.broker != nil && cfg.MQTT.GatewayPasswordFile != "" {
		if passwords, err = loadGatewayPasswords(cfg.MQTT.GatewayPasswordFile); err != nil {
			m.Logger.Error("reload rejected: gateway passwords, keeping the running ones", "zh", ConfigErrorText(err, AtReload), "err", err)
			return err
		}
	}
	// all parsed: apply
	if passwords != nil {
		if err := m.broker.SetPasswords(passwords); err != nil {
			m.Logger.Warn("reload: gateway passwords", "err", err)
		}
	}
	if households != nil {
		// into the register when its content changed since it was last loaded
		if err := m.register.LoadFile(ctx, households, hash, false, m.Now()); err != nil {
			m.Logger.Error("reload: households_file could not be loaded into the register", "err", err)
			return err
		}
	} else if m.register != nil {
		// no file: re-read the register (another process may have written it)
		if err := m.register.refresh(ctx, true); err != nil {
			m.Logger.Error("reload: the register could not be re-read", "err", err)
			return err
		}
	}
	if m.engine != nil {
		m.engine.Reload(rc)
		m.syncHouseholds()
	}
	if cfg.MQTT != m.Config.MQTT || cfg.HTTP != m.Config.HTTP || cfg.Store != m.Config.Store || cfg.Influx != m.Config.Influx ||
		cfg.Ingest != m.Config.Ingest || !reflect.DeepEqual(cfg.Notify, m.Config.Notify) || cfg.Web != m.Config.Web {
		m.Logger.Warn("reload: mqtt, http, store, influx, ingest, notify and web settings take effect at the next restart")
	}
	m.mu.Lock()
	m.Config = cfg
	m.mu.Unlock()
	m.Logger.Info("reloaded", "households_file", cfg.HouseholdsFile, "rules_file", cfg.RulesFile)
	return nil
}
