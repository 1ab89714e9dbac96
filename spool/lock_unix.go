//go:build unix

package spool

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f without waiting: one process per
// spool directory.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
