package api

import "github.com/anxin-care/anxin/ledger"

// importResult is the answer to POST elders/import.
type importResult struct {
	Checked   int             `json:"checked"`
	Imported  int             `json:"imported"`
	Created   int             `json:"created"`
	Changed   int             `json:"changed"`
	Unchanged int             `json:"unchanged"`
	Unmapped  []string        `json:"unmapped_columns"`
	DryRun    bool            `json:"dry_run"`
	Changes   []ledger.Change `json:"changes"`
}
