//go:build !unix && !windows

package spool

import "os"

// lockFile does nothing here (plan9, wasm): no file lock is offered.
func lockFile(*os.File) error { return nil }
