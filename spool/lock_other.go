//go:build !unix

package spool

import "os"

// lockFile does nothing here: gatewayd, the spool's only user, runs on
// Linux; this package is linked into Windows tools (anxinctl) only through
// alarmd's embedded broker.
func lockFile(*os.File) error { return nil }
