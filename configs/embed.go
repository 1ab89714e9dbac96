// Package configs holds the example and default configuration files, embedded
// so the daemons run with no file at all and a test keeps each one parsing.
package configs

import _ "embed"

// RulesYAML is the built-in rules file: alarmd's rules when rules_file is empty.
//
//go:embed rules.yaml
var RulesYAML []byte
