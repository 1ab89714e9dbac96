package alarmd

import (
	"context"
	"fmt"
)

// Reload re-reads the config file, the households file and the rules file
// (SIGHUP). Anything invalid leaves the running configuration in place and
// the error says exactly what was wrong. Settings that need a restart
// (listen addresses, store path, broker) are logged, not applied.
func (m *Main) Reload(ctx context.Context) error {
	cfg := m.Config
	if m.ConfigPath != "" {
		c, err := Load(m.ConfigPath)
		if err != nil {
			m.Logger.Error("reload: config rejected, keeping the running one", "err", err)
			return err
		}
		cfg = c
	}
	if m.households != nil {
		if err := m.households.Reload(cfg.HouseholdsFile); err != nil {
			m.Logger.Error("reload: households rejected, keeping the running ones", "err", err)
			return err
		}
	}
	if err := m.reloadRules(cfg); err != nil {
		m.Logger.Error("reload: rules rejected, keeping the running ones", "err", err)
		return fmt.Errorf("reload: %w", err)
	}
	if cfg.MQTT != m.Config.MQTT || cfg.HTTP != m.Config.HTTP || cfg.Store != m.Config.Store {
		m.Logger.Warn("reload: mqtt, http and store settings take effect at the next restart")
	}
	m.mu.Lock()
	m.Config = cfg
	m.mu.Unlock()
	m.Logger.Info("reloaded", "households_file", cfg.HouseholdsFile, "rules_file", cfg.RulesFile)
	return nil
}
