package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// alarmdProc is the alarmd binary for a crash test: started, killed with
// SIGKILL, started again on the same files.
type alarmdProc struct {
	t       *testing.T
	cfgFile string
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    *logTail
	broker  string // tcp://host:port of the embedded broker
	http    string // host:port
}

func (p *alarmdProc) start() {
	t := p.t
	t.Helper()
	cmd := exec.Command(alarmdBinary(t), "-config", p.cfgFile)
	cmd.Env = append(os.Environ(), "ANXIN_NOTIFY_ACK_SECRET=ack-secret-0123456789abcdef0123456789")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd, p.exited, p.logs = cmd, make(chan struct{}), &logTail{seen: make(chan struct{}, 1)}
	go func(logs *logTail, exited chan struct{}) { logs.read(stderr); _ = cmd.Wait(); close(exited) }(p.logs, p.exited)
	b, next := p.logs.wait(t, "embedded MQTT broker listening", 0)
	o, _ := p.logs.wait(t, "alarmd open", next)
	p.broker, p.http = "tcp://"+b["addr"].(string), o["http"].(string)
}

func (p *alarmdProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// TestIntegrationCrashAfterAcceptOrClose: people accept an alarm (the
// escalation's store write) or close it by hand (the records API), alarmd
// is killed with SIGKILL a random moment later while readings flow, and
// started again: the next press is exactly one new alarm, never a repeat of
// one people already took. 3 short trials in CI; ANXIN_LONG=1 runs 20 with
// the kill 0–10 s after the accept or close.
func TestIntegrationCrashAfterAcceptOrClose(t *testing.T) {
	trials, maxDelay := 3, 1500*time.Millisecond
	if os.Getenv("ANXIN_LONG") != "" {
		trials, maxDelay = 20, 10*time.Second
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)

	dir := t.TempDir()
	const token = "district-0123456789abcdef"
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hh, cfgFile, dbPath := filepath.Join(dir, "households.yaml"), filepath.Join(dir, "alarmd.yaml"), filepath.Join(dir, "alarmd.db")
	write(hh, `households:
  - id: hh-0001
    elder: {name: 张桂兰, tier: high}
    contacts: [{name: 李明, relation: child, phone: "+8613900000001"}]
    devices: [{id: btn1, kind: call_button}]
  - id: hh-0002
    elder: {name: 赵国强, tier: general}
    contacts: [{name: 赵小红, relation: child, phone: "+8613900000003"}]
    devices: [{id: wm1, kind: water_meter}]
`)
	write(cfgFile, fmt.Sprintf(`
mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
store: {path: %q}
households_file: %q
api: {tokens: [{name: district, token: %q}]}
`, dbPath, hh, token))
	db, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	buttonAlarms := func() (open []anxin.Alarm, all int) {
		as, err := db.Alarms(ctx, sqlite.AlarmFilter{Household: "hh-0001"})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Repeats != 0 {
				t.Fatalf("a press was absorbed as a repeat of alarm %s (%s)", a.ID, a.State)
			}
			if a.State == anxin.AlarmOpen {
				open = append(open, a)
			}
		}
		return open, len(as)
	}

	p := &alarmdProc{t: t, cfgFile: cfgFile}
	p.start()
	t.Cleanup(p.kill)
	connect := func(id string) paho.Client {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(p.broker).SetClientID(id))
		if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: connect: %v", id, tok.Error())
		}
		return c
	}
	publish := func(c paho.Client, m anxin.Message) {
		b, _ := json.Marshal(&m)
		// the embedded broker acknowledges only after alarmd's commit
		if tok := c.Publish(m.Topic(), 1, false, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	pressButton := func(c paho.Client) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		publish(c, anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-0001", Device: "btn1",
			Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed})
	}
	pub := connect("gw-first")
	pressButton(pub)
	if open, all := buttonAlarms(); len(open) != 1 || all != 1 {
		t.Fatalf("after the first press, %d alarms, open %+v", all, open)
	}
	for trial := range trials {
		open, _ := buttonAlarms()
		// steady readings of another household: batches keep committing
		// while the pressed household's state waits for its flush
		stop := make(chan struct{})
		readings := make(chan struct{})
		go func() {
			defer close(readings)
			for total := 1.0; ; total += 0.001 {
				select {
				case <-stop:
					return
				default:
				}
				ts := time.Now().UTC()
				m := anxin.Message{ID: anxin.NewID(ts), TS: ts, Household: "hh-0002", Device: "wm1",
					Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(total)}}
				b, _ := json.Marshal(&m)
				tok := pub.Publish(m.Topic(), 1, false, b)
				select {
				case <-tok.Done():
				case <-stop:
					return // alarmd was killed
				}
			}
		}()
		how := "accepted"
		if trial%2 == 0 {
			if err := db.SetAlarmState(ctx, open[0].ID, anxin.AlarmAccepted, "+8613900000001", time.Now()); err != nil {
				t.Fatal(err)
			}
		} else {
			how = "closed"
			req, _ := http.NewRequest("POST", "http://"+p.http+"/api/v1/alarms/"+open[0].ID+"/close",
				strings.NewReader(`{"reason":"网格员确认误按"}`))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("trial %d: close: %d", trial, resp.StatusCode)
			}
		}
		delay := time.Duration(rng.Int64N(int64(maxDelay)))
		time.Sleep(delay) // the moment of the crash is what this test varies
		p.kill()
		close(stop)
		<-readings
		pub.Disconnect(0)
		restart := time.Now()
		p.start()
		pub = connect(fmt.Sprintf("gw-%d", trial))
		_, before := buttonAlarms()
		pressButton(pub)
		open, all := buttonAlarms()
		if len(open) != 1 || all != before+1 {
			t.Fatalf("trial %d (%s, killed %v later): the press after the restart made %d new alarms, open %+v\n%s",
				trial, how, delay, all-before, open, p.logs.String())
		}
		t.Logf("trial %d: %s, SIGKILL %v later, restart, press: one new alarm (%v from the kill)", trial, how,
			delay.Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))
		// the next trial takes people's part on this new alarm
	}
	pub.Disconnect(0)
}
