//go:build unix

package api

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) this process has used: benchmarks
// report it per operation, a number that the machine's other load does not
// inflate the way it does wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
