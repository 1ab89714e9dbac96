// Command anxin-load publishes contract readings and button presses to a
// broker as fast as a window of unacknowledged QoS 1 messages allows.
//
//	anxin-load -broker tcp://127.0.0.1:1883 -n 200000 -households 10000 -events 200
//
// Each press goes to its own household (ev-000001, …) so each opens an
// alarm; its id is a ULID whose time is the send time (ms), which is how
// alarmd's load test measures event-to-alarm latency. It prints one JSON
// object: what was sent and how fast.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
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

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("anxin-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("broker", "tcp://127.0.0.1:1883", "broker URL")
	n := fs.Int("n", 100_000, "readings to publish")
	households := fs.Int("households", 10_000, "households the readings are spread over")
	events := fs.Int("events", 100, "button presses, spread evenly through the run, each in its own household")
	window := fs.Int("window", 2000, "unacknowledged QoS 1 messages in flight per publisher")
	publishers := fs.Int("publishers", 2, "publisher connections")
	rate := fs.Float64("rate", 0, "messages per second in all (0: as fast as the window allows)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *n < 0 || *households < 1 || *events < 0 || *window < 1 || *publishers < 1 {
		fmt.Fprintln(stderr, "anxin-load: counts must be positive")
		return 2
	}
	res, err := publish(*broker, *n, *households, *events, *window, *publishers, *rate)
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

// publish sends the load.
func publish(broker string, n, households, events, window, publishers int, rate float64) (Result, error) {
	total := n + events
	var next atomic.Int64
	every := 0
	if events > 0 {
		every = max(total/events, 1)
	}
	var evCount atomic.Int64
	errc := make(chan error, publishers)
	start := time.Now()
	var wg sync.WaitGroup
	for p := range publishers {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).
			SetClientID("anxin-load-" + strconv.Itoa(p) + "-" + strconv.FormatInt(start.UnixNano(), 36)).
			SetCleanSession(true).SetMaxResumePubInFlight(window).SetWriteTimeout(30 * time.Second))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return Result{}, fmt.Errorf("connect %s: %v", broker, tok.Error())
		}
		defer c.Disconnect(250)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// the window: tokens wait in order in one goroutine (QoS 1 acks
			// come back in order), not one goroutine per message
			tokens := make(chan paho.Token, window)
			waited := make(chan struct{})
			go func() {
				defer close(waited)
				for tok := range tokens {
					tok.Wait()
					if err := tok.Error(); err != nil {
						select {
						case errc <- err:
						default:
						}
					}
				}
			}()
			defer func() { close(tokens); <-waited }()
			var buf []byte
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					break
				}
				if rate > 0 {
					if due := start.Add(time.Duration(float64(i) / rate * float64(time.Second))); time.Until(due) > 0 {
						time.Sleep(time.Until(due))
					}
				}
				now := time.Now() // after the window let the previous one go: when this one is sent
				var m anxin.Message
				if every > 0 && i%every == every/2 && int(evCount.Load()) < events {
					k := evCount.Add(1)
					m = anxin.Message{ID: anxin.NewID(now), TS: now, Household: fmt.Sprintf("ev-%06d", k),
						Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}
				} else {
					hh := i % households
					m = anxin.Message{ID: anxin.NewID(now), TS: now, Household: fmt.Sprintf("hh-%06d", hh), Device: "wm1",
						Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(1000 + float64(i/households)*0.01),
							"flow_lpm": anxin.Num(0), "battery_low": anxin.Bool(false)}}
				}
				var err error
				buf, err = json.Marshal(&m)
				if err != nil {
					errc <- err
					return
				}
				tokens <- c.Publish(m.Topic(), 1, false, buf)
			}
		}()
	}
	wg.Wait()
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
