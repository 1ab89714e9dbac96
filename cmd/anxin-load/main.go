// Command anxin-load publishes contract readings and button presses to a
// broker as fast as a window of unacknowledged QoS 1 messages allows.
//
//	anxin-load -broker tcp://127.0.0.1:1883 -n 200000 -households 10000 -events 200
//
// Each press goes to its own household (ev-000001, …) so each opens an
// alarm; its id is a ULID whose time is the send time (ms), which is how
// alarmd's load test measures event-to-alarm latency. It prints one JSON
// object: what was sent and how fast.
//
// With -press (or -press-during CMD) it presses call buttons at a steady
// rate while another program loads the broker, and -press-report says what
// the presses became in alarmd (press.go, press_report.go): how
// scripts/bench-ingest.sh measures event → alarm under the shared harness.
//
// With -jt808 ADDR or -watch3g ADDR it is instead a crowd of simulated
// dial-in devices reporting to one gatewayd driver (see devices.go):
//
//	anxin-load -jt808 127.0.0.1:8808 -devices 10000 -every 30s -sos 50
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Result is what one run did.
type Result struct {
	Readings  int     `json:"readings"`
	Events    int     `json:"events"`
	Seconds   float64 `json:"publish_seconds"`
	PerSecond float64 `json:"published_per_second"`
}

func run(args []string, stdout, stderr io.Writer) int { return runIO(args, os.Stdin, stdout, stderr) }

func runIO(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("anxin-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "broker URL")
	n := fs.Int("n", 100_000, "readings to publish")
	households := fs.Int("households", 10_000, "households the readings are spread over")
	events := fs.Int("events", 100, "button presses, spread evenly through the run, each in its own household")
	window := fs.Int("window", 2000, "unacknowledged QoS 1 messages in flight per publisher")
	publishers := fs.Int("publishers", 2, "publisher connections")
	rate := fs.Float64("rate", 0, "messages per second in all (0: as fast as the window allows)")
	useEvery := fs.Int("use-every", 1, "a household's meter rises by 10 l (a use) on every this many passes over the households (1: every reading after the first)")
	client := fs.String("client", "raw", "raw (a minimal QoS 1 publisher: little CPU taken from what is measured) or paho")
	jtAddr := fs.String("jt808", "", "device mode: simulated JT/T 808 terminals dial this host:port")
	watchAddr := fs.String("watch3g", "", "device mode: simulated 3G watches dial this host:port")
	devices := fs.Int("devices", 1000, "device mode: simultaneous devices")
	every := fs.Duration("every", 30*time.Second, "device mode: each device reports once per this period")
	sos := fs.Int("sos", 50, "device mode: SOS presses per round, spread over the devices")
	rounds := fs.Int("rounds", 0, "device mode: reports per device (0: until killed)")
	ids := fs.String("ids", "", "device mode: format of device i's id (\"\": 1380%07d for jt808, 90%08d for watch3g)")
	dialers := fs.Int("dialers", 64, "device mode: devices connecting at once")
	wait := fs.Bool("wait", false, "device mode: once all are connected, wait for a line on stdin before reporting")
	press := fs.Bool("press", false, "press mode: button presses at -press-rate until stdin ends (press.go)")
	pressRate := fs.Float64("press-rate", 10, "press mode: presses per second")
	pressIDs := fs.String("press-ids", "hh-%05d", "press mode: format of household i's id (the shared harness's)")
	pressDevice := fs.String("press-device", "btn1", "press mode: the call button's device id")
	during := fs.String("press-during", "", "run press mode beside this command, then become it (exec) with the arguments after --")
	pressOut := fs.String("press-out", "presses.jsonl", "-press-during: where the presser's output goes")
	report := fs.Bool("press-report", false, "print what the presses of the shared harness's round directories (the arguments) became")
	pressRule := fs.String("press-rule", "button", "-press-report: the rule a press opens an alarm of")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *report {
		return pressReport(fs.Args(), *pressRule, stdout, stderr)
	}
	if *press || *during != "" {
		if *pressRate < 0.001 || *pressRate > 1e6 || *households < 1 || !strings.Contains(*pressIDs, "%") {
			fmt.Fprintln(stderr, "anxin-load: -press-rate must be 0.001 to 1e6 a second, -households positive, -press-ids a format")
			return 2
		}
		if *during != "" {
			pressArgs := []string{"-broker", *broker, "-press-rate", strconv.FormatFloat(*pressRate, 'g', -1, 64),
				"-households", strconv.Itoa(*households), "-press-ids", *pressIDs, "-press-device", *pressDevice}
			return pressDuring(*during, fs.Args(), pressArgs, *pressOut, stderr)
		}
		return pressUntilEOF(pressOpts{Broker: *broker, Rate: *pressRate, Households: *households, IDs: *pressIDs,
			Device: *pressDevice}, stdin, stdout)
	}
	if *jtAddr != "" || *watchAddr != "" {
		o := deviceOpts{Protocol: "jt808", Addr: *jtAddr, Devices: *devices, Every: *every, SOS: *sos, Rounds: *rounds,
			IDs: *ids, Dialers: *dialers, Wait: *wait, Timeout: 30 * time.Second}
		if *watchAddr != "" {
			o.Protocol, o.Addr = "watch3g", *watchAddr
		}
		if *jtAddr != "" && *watchAddr != "" {
			fmt.Fprintln(stderr, "anxin-load: -jt808 or -watch3g, not both")
			return 2
		}
		if o.IDs == "" {
			o.IDs = defaultIDs[o.Protocol]
		}
		if o.Devices < 1 || o.Every <= 0 || o.SOS < 0 || o.Rounds < 0 {
			fmt.Fprintln(stderr, "anxin-load: -devices and -every must be positive")
			return 2
		}
		res, err := runDevices(o, stdin, stdout)
		if err != nil {
			fmt.Fprintln(stderr, "anxin-load:", err)
			return 1
		}
		if err := json.NewEncoder(stdout).Encode(res); err != nil || res.Errors > 0 {
			return 1
		}
		return 0
	}
	if *client != "raw" && *client != "paho" {
		fmt.Fprintln(stderr, "anxin-load: -client must be raw or paho")
		return 2
	}
	if *n < 0 || *households < 1 || *events < 0 || *window < 1 || *publishers < 1 || *useEvery < 1 {
		fmt.Fprintln(stderr, "anxin-load: counts must be positive")
		return 2
	}
	res, err := publish(*broker, *client, *n, *households, *events, *window, *publishers, *useEvery, *rate)
	if err != nil {
		fmt.Fprintln(stderr, "anxin-load:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(res); err != nil {
		return 1
	}
	return 0
}

// sender is one publisher connection.
type sender interface {
	Publish(topic string, payload []byte) error
	Flush() error
	Close(timeout time.Duration) error
}

// pahoSender publishes with paho; QoS 1 tokens wait in order in one
// goroutine (acks come back in order), not one goroutine per message.
type pahoSender struct {
	c      paho.Client
	tokens chan paho.Token
	waited chan struct{}
	mu     sync.Mutex
	err    error
}

func dialPaho(broker, id string, window int) (*pahoSender, error) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID(id).
		SetCleanSession(true).SetMaxResumePubInFlight(window).SetWriteTimeout(30 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect %s: %v", broker, tok.Error())
	}
	s := &pahoSender{c: c, tokens: make(chan paho.Token, window), waited: make(chan struct{})}
	go func() {
		defer close(s.waited)
		for tok := range s.tokens {
			tok.Wait()
			if err := tok.Error(); err != nil {
				s.mu.Lock()
				if s.err == nil {
					s.err = err
				}
				s.mu.Unlock()
			}
		}
	}()
	return s, nil
}

func (s *pahoSender) Publish(topic string, payload []byte) error {
	s.tokens <- s.c.Publish(topic, 1, false, payload) // paho copies nothing: payload must not be reused
	return nil
}

func (s *pahoSender) Flush() error { return nil }

func (s *pahoSender) Close(time.Duration) error {
	close(s.tokens)
	<-s.waited
	s.c.Disconnect(250)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// publish sends the load.
func publish(broker, client string, n, households, events, window, publishers, useEvery int, rate float64) (Result, error) {
	total := n + events
	var next atomic.Int64
	every := 0
	if events > 0 {
		every = max(total/events, 1)
	}
	var evCount atomic.Int64
	errc := make(chan error, publishers)
	start := time.Now()
	senders := make([]sender, publishers)
	for p := range senders {
		id := "anxin-load-" + strconv.Itoa(p) + "-" + strconv.FormatInt(start.UnixNano(), 36)
		var err error
		if client == "paho" {
			senders[p], err = dialPaho(broker, id, window)
		} else {
			senders[p], err = dialRaw(broker, id, window)
		}
		if err != nil {
			return Result{}, err
		}
	}
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					break
				}
				if rate > 0 {
					if due := start.Add(time.Duration(float64(i) / rate * float64(time.Second))); time.Until(due) > 0 {
						if err := s.Flush(); err != nil { // what is due now leaves now
							errc <- err
							return
						}
						time.Sleep(time.Until(due))
					}
				}
				now := time.Now() // after the window let the previous one go: when this one is sent
				if every > 0 && i%every == every/2 && int(evCount.Load()) < events {
					k := evCount.Add(1)
					m := pressMessage(now, fmt.Sprintf("ev-%06d", k), "btn1")
					b, err := json.Marshal(&m)
					if err != nil {
						errc <- err
						return
					}
					if err := s.Publish(m.Topic(), b); err != nil {
						errc <- err
						return
					}
					if err := s.Flush(); err != nil { // a press does not wait for the buffer to fill
						errc <- err
						return
					}
					continue
				}
				if client == "paho" {
					buf = nil // paho keeps the slice until it is sent; the raw publisher copies it
				}
				topic, b := appendReading(buf[:0], now, i%households, 1000+float64(i/households/useEvery)*0.01)
				buf = b
				if err := s.Publish(topic, b); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range senders {
		if err := s.Close(time.Minute); err != nil {
			errc <- err
		}
	}
	elapsed := time.Since(start)
	select {
	case err := <-errc:
		return Result{}, err
	default:
	}
	ev := int(evCount.Load())
	return Result{Readings: total - ev, Events: ev, Seconds: elapsed.Seconds(),
		PerSecond: float64(total) / elapsed.Seconds()}, nil
}

// pressMessage is a press of a household's call button at now: its id is a
// ULID whose time is now (ms), which is how alarmd's load test measures
// event-to-alarm latency.
func pressMessage(now time.Time, household, device string) anxin.Message {
	return anxin.Message{ID: anxin.NewID(now), TS: now, Household: household,
		Device: device, Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}
}

// appendReading encodes a water-meter reading of household hh-NNNNNN as
// the contract's JSON (what json.Marshal of anxin.Message gives, a test
// checks) without reflection.
func appendReading(b []byte, now time.Time, hh int, total float64) (string, []byte) {
	household := "hh-" + fmt.Sprintf("%06d", hh)
	b = append(b, `{"id":"`...)
	b = append(b, anxin.NewID(now)...)
	b = append(b, `","ts":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","household":"`...)
	b = append(b, household...)
	b = append(b, `","device":"wm1","kind":"water_meter","fields":{"battery_low":false,"flow_lpm":0,"total_m3":`...)
	b = strconv.AppendFloat(b, total, 'f', -1, 64)
	b = append(b, "}}"...)
	return "anxin/v1/" + household + "/wm1/reading", b
}
