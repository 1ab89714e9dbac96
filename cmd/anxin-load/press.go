package main

import (
	"encoding/json"
	"fmt"
	"github.com/anxin-care/anxin/internal/proc"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// Press mode: button presses at a steady rate while another program loads
// the broker, for scripts/bench-ingest.sh (event → alarm latency under the
// shared harness's load):
//
//	anxin-load -press -broker tcp://127.0.0.1:18831 -press-rate 10 -households 1000 </some/pipe
//
// It presses until its stdin ends. Press k goes to the k-th household of a
// fixed shuffle of household 0…households-1 (ids -press-ids, device
// -press-device), so each press is the first of its household and opens an
// alarm of its own (a press while the household's button alarm is open is
// a repeat of it, not a new alarm); with every household pressed once it
// stops pressing and says so. Output, JSON lines on stdout: {"press":ID,
// "household":HH,"sent_unix_ns":T} as each press is written (T is taken
// just before the message is made; ID is a ULID of the same ms), then a
// summary (PressSummary) once every press is acknowledged.
//
// -press-during CMD runs press mode beside CMD: it starts a presser (this
// binary, -press, its output into -press-out), whose stdin is a pipe,
// then becomes CMD (exec, the same pid) with the arguments after "--",
// holding the pipe's only write end. The presser sees its stdin end when
// CMD exits. Given as the harness's -loadgen (through a one-line script),
// CMD is the harness's load generator: the harness sees its output, exit
// status and CPU (its wait covers CMD, not the presser, which nobody
// waits for), and the presses come while the readings are published.

// pressOpts is what a press run does.
type pressOpts struct {
	Broker     string
	Rate       float64 // presses per second
	Households int     // households 0…Households-1 are pressed, each once
	IDs        string  // format of household i's id
	Device     string  // the call button's device id in each household
}

// PressLine is one press, as written.
type PressLine struct {
	Press     string `json:"press"`
	Household string `json:"household"`
	SentNs    int64  `json:"sent_unix_ns"`
}

// PressSummary is the last line of a press run.
type PressSummary struct {
	Presses    int     `json:"presses"`
	Rate       float64 `json:"presses_per_s"`
	Exhausted  bool    `json:"households_exhausted,omitempty"` // stopped: every household pressed
	CPUSeconds float64 `json:"cpu_s"`                          // the presser process's CPU, user + system
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
}

// runPresses presses until stop is closed, writing a PressLine per press
// to out, and returns once every press is acknowledged by the broker.
func runPresses(o pressOpts, stop <-chan struct{}, out io.Writer) PressSummary {
	sum := PressSummary{Rate: o.Rate}
	fail := func(err error) {
		sum.Errors++
		if sum.FirstError == "" {
			sum.FirstError = err.Error()
		}
	}
	pub, err := dialRaw(o.Broker, "anxin-press-"+strconv.FormatInt(time.Now().UnixNano(), 36), 64)
	if err != nil {
		fail(err)
		<-stop
		return sum
	}
	order := rand.New(rand.NewPCG(1, 18)).Perm(o.Households)
	enc := json.NewEncoder(out)
	tick := time.NewTicker(max(time.Duration(float64(time.Second)/o.Rate), time.Microsecond))
	defer tick.Stop()
pressing:
	for {
		select {
		case <-stop:
			break pressing
		case <-tick.C:
		}
		hh := fmt.Sprintf(o.IDs, order[sum.Presses])
		now := time.Now()
		m := pressMessage(now, hh, o.Device)
		b, err := json.Marshal(&m)
		if err == nil {
			err = pub.Publish(m.Topic(), b)
		}
		if err == nil {
			err = pub.Flush() // a press does not wait for a buffer to fill
		}
		if err != nil {
			fail(err)
			<-stop
			break pressing
		}
		sum.Presses++
		if err := enc.Encode(PressLine{Press: m.ID, Household: hh, SentNs: now.UnixNano()}); err != nil {
			fail(err)
		}
		if sum.Presses == len(order) {
			sum.Exhausted = true
			<-stop
			break
		}
	}
	if err := pub.Close(time.Minute); err != nil {
		fail(err)
	}
	return sum
}

// pressUntilEOF is press mode: it presses until stdin ends, then writes
// the summary; 1 when a press failed.
func pressUntilEOF(o pressOpts, stdin io.Reader, stdout io.Writer) int {
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(stop)
	}()
	sum := runPresses(o, stop, stdout)
	sum.CPUSeconds = proc.SelfCPU().Seconds()
	if err := json.NewEncoder(stdout).Encode(sum); err != nil || sum.Errors > 0 {
		return 1
	}
	return 0
}

// pressDuring starts a presser (pressArgs) writing into out, then becomes
// cmd with cmdArgs; it returns only when that fails.
func pressDuring(cmd string, cmdArgs, pressArgs []string, out string, stderr io.Writer) int {
	path, err := exec.LookPath(cmd)
	if err != nil {
		fmt.Fprintln(stderr, "anxin-load:", err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "anxin-load:", err)
		return 1
	}
	f, err := os.Create(out)
	if err != nil {
		fmt.Fprintln(stderr, "anxin-load:", err)
		return 1
	}
	r, w, err := os.Pipe() // both ends close on exec: the presser gets neither but its stdin
	if err != nil {
		fmt.Fprintln(stderr, "anxin-load:", err)
		return 1
	}
	presser := exec.Command(self, append([]string{"-press"}, pressArgs...)...)
	// not this process's stdout: whoever reads cmd's output to its end (the
	// harness) would wait for the presser too
	presser.Stdin, presser.Stdout, presser.Stderr = r, f, os.Stderr
	if err := presser.Start(); err != nil {
		fmt.Fprintln(stderr, "anxin-load: presser:", err)
		return 1
	}
	r.Close()
	f.Close()
	// the write end stays open across the exec: cmd holds it, unknowingly,
	// until it exits
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), syscall.F_SETFD, 0); e != 0 {
		fmt.Fprintln(stderr, "anxin-load: pipe:", e)
		w.Close() // the presser stops
		return 1
	}
	err = syscall.Exec(path, append([]string{cmd}, cmdArgs...), os.Environ())
	runtime.KeepAlive(w)
	fmt.Fprintln(stderr, "anxin-load: exec", cmd+":", err)
	w.Close()
	return 1
}
