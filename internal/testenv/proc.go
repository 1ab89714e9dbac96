package testenv

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin/internal/proc"
)

// VmRSS is a process's resident memory in KiB from /proc (-1: unreadable).
func VmRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// SelfCPU is the CPU time (user and system) this process has used.
func SelfCPU() time.Duration { return proc.SelfCPU() }
