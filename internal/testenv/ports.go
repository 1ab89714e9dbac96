package testenv

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTries is how many free ports a server is tried on before the test
// fails: FreePort's port is free when picked, and another package's test
// (CI runs them all at once) can bind it before the server does.
const startTries = 3

// startOnFreePort starts a server with start on a FreePort and waits
// within for it to listen there, on a fresh port when the port turned out
// to be another's (the server exited saying so, or another process
// listens there: a plain dial would reach that one and the test would
// talk to another test's server).
func startOnFreePort(t testing.TB, within time.Duration, start func(port int) *Process) (*Process, int) {
	t.Helper()
	return startOnPicked(t, within, FreePort, start)
}

// startOnPicked is startOnFreePort with the ports picked by pick.
func startOnPicked(t testing.TB, within time.Duration, pick func(testing.TB) int, start func(port int) *Process) (*Process, int) {
	t.Helper()
	for try := 1; ; try++ {
		port := pick(t)
		p := start(port)
		ok, taken := listensOwn(p, port, within)
		if ok {
			return p, port
		}
		p.Kill()
		if taken && try < startTries {
			t.Logf("%s: port %d was taken by another process; trying another", p.name, port)
			continue
		}
		t.Fatalf("%s not listening on 127.0.0.1:%d within %s (try %d):\n%s", p.name, port, within, try, p.Output())
	}
}

// listensOwn waits until p's process group listens on 127.0.0.1:port.
// taken: the port is another's (p exited saying the address is in use, or
// a process outside p's group listens on it).
func listensOwn(p *Process, port int, within time.Duration) (ok, taken bool) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return false, inUse(p.Output())
		default:
		}
		if inode := listeningInode(port); inode != "" {
			if owner, known := groupOwns(p.pgid(), inode); !known {
				return listens(p, addr, time.Until(deadline)), false // no /proc to ask
			} else if owner {
				return true, false
			}
			return false, true
		}
		select {
		case <-p.exited:
			return false, inUse(p.Output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false, false
}

// inUse reports a server's own words for a port already taken
// (mosquitto, VictoriaMetrics and PostgreSQL: "address already in use";
// node: EADDRINUSE).
func inUse(out string) bool {
	return strings.Contains(strings.ToLower(out), "address already in use") || strings.Contains(out, "EADDRINUSE")
}

// pgid is the process group of p (its own pid: started with Setpgid).
func (p *Process) pgid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// listeningInode is the socket inode of a TCP listener on 127.0.0.1:port
// or 0.0.0.0:port, from /proc/net/tcp ("" when none, or unreadable).
func listeningInode(port int) string {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return ""
	}
	defer f.Close()
	loop, any := fmt.Sprintf("0100007F:%04X", port), fmt.Sprintf("00000000:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(sc.Text())
		if len(f) > 9 && f[3] == "0A" && (f[1] == loop || f[1] == any) {
			return f[9]
		}
	}
	return ""
}

// groupOwns reports whether a process of group pgid holds the socket
// inode; known is false when /proc cannot tell.
func groupOwns(pgid int, inode string) (owner, known bool) {
	procs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil || len(procs) == 0 {
		return false, false
	}
	want := "socket:[" + inode + "]"
	for _, dir := range procs {
		if g, ok := groupOf(dir); !ok || g != pgid {
			continue
		}
		fds, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err == nil {
			known = true
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && l == want {
				return true, true
			}
		}
	}
	return false, known // known: at least one of the group's fd tables was read
}

// groupOf is the process group in /proc/<pid>/stat (its fifth field,
// after the command in parentheses, which may hold spaces).
func groupOf(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // state ppid pgrp …
	if len(f) < 3 {
		return 0, false
	}
	g, err := strconv.Atoi(f[2])
	return g, err == nil
}
