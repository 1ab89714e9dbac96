package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/ingest"
	"github.com/anxin-care/anxin/internal/testenv"
)

// mqttStream is nats-server's stream of MQTT QoS 1 messages.
const mqttStream = "$MQTT_msgs"

// jsTrace is what alarmd's JetStream source logged at debug level of the
// messages it was delivered (ingest's traceMsg), by stream sequence.
type jsTrace struct {
	delivered map[uint64][]traceDelivery
	acked     map[uint64][]string // instances that acknowledged it
	naked     map[uint64]int
}

type traceDelivery struct {
	instance   string
	partition  int
	deliveries int
	stored     time.Time
	subject    string
}

// readTrace reads the trace lines out of each alarmd's output (instance →
// output).
func readTrace(outputs map[string]string) *jsTrace {
	tr := &jsTrace{delivered: map[uint64][]traceDelivery{}, acked: map[uint64][]string{}, naked: map[uint64]int{}}
	for inst, out := range outputs {
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !strings.Contains(string(line), `"msg":"jetstream `) {
				continue
			}
			var l struct {
				Msg        string    `json:"msg"`
				Partition  int       `json:"partition"`
				Seq        uint64    `json:"seq"`
				Deliveries int       `json:"deliveries"`
				Stored     time.Time `json:"stored"`
				Subject    string    `json:"subject"`
			}
			if json.Unmarshal(line, &l) != nil || l.Seq == 0 {
				continue
			}
			switch l.Msg {
			case "jetstream message":
				tr.delivered[l.Seq] = append(tr.delivered[l.Seq], traceDelivery{inst, l.Partition, l.Deliveries, l.Stored, l.Subject})
			case "jetstream ack":
				tr.acked[l.Seq] = append(tr.acked[l.Seq], inst)
			case "jetstream nak":
				tr.naked[l.Seq]++
			}
		}
	}
	return tr
}

// ranges writes sorted sequences as "a-b c e-f", at most max ranges.
func ranges(seqs []uint64, max int) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if n == max {
			fmt.Fprintf(&b, " …")
			break
		}
		if n > 0 {
			b.WriteByte(' ')
		}
		if i == j {
			fmt.Fprintf(&b, "%d", seqs[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", seqs[i], seqs[j])
		}
		n++
		i = j + 1
	}
	return b.String()
}

// explainMissing says, when readings are missing, what the cluster and
// alarmd's trace know of them: the stream's and each consumer's config
// and state as their leaders report them, each node's own view of its
// replicas (a replica that holds messages its peers dropped shows here),
// and which stream sequences no alarmd was ever delivered, whether the
// stream still holds them and what they are. window is when the missing
// readings were taken ([from, to], zero: none known); example is a
// household missing readings, whose deliveries around the window are
// listed.
func explainMissing(t *testing.T, nc *testenv.NATSCluster, partitions int, outputs map[string]string, from, to time.Time, example string) {
	t.Helper()
	conn, err := nats.Connect(strings.Join(nc.URLs(), ","), nats.Timeout(5*time.Second))
	if err != nil {
		t.Logf("NATS for the stream's state: %v", err)
		return
	}
	defer conn.Close()
	js, err := conn.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		t.Logf("NATS for the stream's state: %v", err)
		return
	}
	if v := conn.ConnectedServerVersion(); ingest.ServerOlder(v) {
		t.Logf("nats-server %s is older than %s, which alarmd requires (ingest.MinNATSServer): 2.9.10 skips messages it PUBACKed when a node fails under load",
			v, ingest.MinNATSServer)
	}
	si, err := js.StreamInfo(mqttStream)
	if err != nil {
		t.Logf("stream %s: %v", mqttStream, err)
		return
	}
	c := si.Config
	t.Logf("stream %s: retention %s, replicas %d, storage %s, discard %s, max msgs %d, max age %s; messages %d, first seq %d, last seq %d, deleted %d, consumers %d; %s",
		mqttStream, c.Retention, c.Replicas, c.Storage, c.Discard, c.MaxMsgs, c.MaxAge, si.State.Msgs, si.State.FirstSeq, si.State.LastSeq,
		si.State.NumDeleted, si.State.Consumers, clusterLine(si.Cluster))
	for k := range partitions {
		name := "anxin-p" + strconv.Itoa(k)
		ci, err := js.ConsumerInfo(mqttStream, name)
		if err != nil {
			t.Logf("consumer %s: %v", name, err)
			continue
		}
		cc := ci.Config
		t.Logf("consumer %s: filter %s, deliver %s (opt start seq %d), ack %s, ack wait %s, max deliver %d, max ack pending %d; delivered stream seq %d (consumer seq %d), ack floor stream seq %d (consumer seq %d), pending %d, unacknowledged %d, redelivered %d, waiting pulls %d; %s",
			name, cc.FilterSubject, jsonWord(cc.DeliverPolicy), cc.OptStartSeq, jsonWord(cc.AckPolicy), cc.AckWait, cc.MaxDeliver, cc.MaxAckPending,
			ci.Delivered.Stream, ci.Delivered.Consumer, ci.AckFloor.Stream, ci.AckFloor.Consumer, ci.NumPending, ci.NumAckPending,
			ci.NumRedelivered, ci.NumWaiting, clusterLine(ci.Cluster))
	}
	for i := range nc.Len() {
		t.Logf("node %s's own view: %s", nc.Name(i), nodeView(nc.MonitorURL(i)))
	}

	tr := readTrace(outputs)
	var undelivered, unacked []uint64
	for seq := uint64(1); seq <= si.State.LastSeq; seq++ {
		if len(tr.delivered[seq]) == 0 {
			undelivered = append(undelivered, seq)
		} else if len(tr.acked[seq]) == 0 {
			unacked = append(unacked, seq)
		}
	}
	t.Logf("alarmd's trace: %d stream sequences delivered, %d acknowledged, %d handed back; of sequences 1-%d, %d never delivered to any alarmd (%s), %d delivered and never acknowledged (%s)",
		len(tr.delivered), len(tr.acked), len(tr.naked), si.State.LastSeq, len(undelivered), ranges(undelivered, 20), len(unacked), ranges(unacked, 20))
	// the never delivered: still in the stream (a consumer skipped them),
	// or gone (dropped, or acknowledged by nobody traced)
	var held []uint64
	byPart := map[int]int{}
	var examples []string
	var getErr error // the first look-up that failed other than "not found"
	for i, seq := range undelivered {
		if i == 5000 {
			t.Logf("(only the first 5000 never-delivered sequences looked up)")
			break
		}
		m, err := js.GetMsg(mqttStream, seq)
		if err != nil {
			if getErr == nil && !errors.Is(err, nats.ErrMsgNotFound) {
				getErr = fmt.Errorf("seq %d: %w", seq, err)
			}
			continue
		}
		held = append(held, seq)
		topic, err := ingest.SubjectTopic(m.Subject)
		hh := "?"
		if err == nil {
			hh, _, _, _ = anxin.ParseTopic(topic)
		}
		byPart[ingest.Partition(hh, partitions)]++
		if len(examples) < 10 {
			at := "?"
			if msg, err := anxin.ParseMessage(topic, m.Data); err == nil {
				at = msg.TS.UTC().Format("15:04:05.000")
			}
			examples = append(examples, fmt.Sprintf("seq %d %s (stored %s, reading of %s)", seq, m.Subject, m.Time.UTC().Format("15:04:05.000"), at))
		}
	}
	t.Logf("of those never delivered, %d are still in the stream (%s), by partition %v; e.g. %s; look-up error: %v",
		len(held), ranges(held, 20), byPart, strings.Join(examples, "; "), getErr)
	if example == "" || from.IsZero() {
		return
	}
	var seen []string
	for seq, ds := range tr.delivered {
		for _, d := range ds {
			if !strings.Contains(d.subject, "."+example+".") || d.stored.Before(from.Add(-5*time.Second)) || d.stored.After(to.Add(time.Minute)) {
				continue
			}
			seen = append(seen, fmt.Sprintf("seq %d stored %s to %s (partition %d, delivery %d, acknowledged by %v)",
				seq, d.stored.UTC().Format("15:04:05.000"), d.instance, d.partition, d.deliveries, tr.acked[seq]))
		}
	}
	slices.Sort(seen)
	t.Logf("%s's messages stored %s-%s (+1 min) as alarmd's trace saw them: %d: %s", example, from.UTC().Format("15:04:05"),
		to.UTC().Format("15:04:05"), len(seen), strings.Join(seen, "; "))
}

// jsonWord is a JetStream enum as its API spells it ("all", "explicit").
func jsonWord(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.Trim(string(b), `"`)
}

func clusterLine(c *nats.ClusterInfo) string {
	if c == nil {
		return "no cluster info"
	}
	s := "leader " + c.Leader
	for _, r := range c.Replicas {
		s += fmt.Sprintf(", %s (current %v, offline %v, lag %d, active %s)", r.Name, r.Current, r.Offline, r.Lag, r.Active.Round(time.Millisecond))
	}
	return s
}

// jszConsumer is a consumer replica in a node's /jsz.
type jszConsumer struct {
	Name      string `json:"name"`
	Delivered struct {
		Stream uint64 `json:"stream_seq"`
	} `json:"delivered"`
	AckFloor struct {
		Stream uint64 `json:"stream_seq"`
	} `json:"ack_floor"`
	NumPending    uint64 `json:"num_pending"`
	NumAckPending int    `json:"num_ack_pending"`
	Cluster       *struct {
		Leader string `json:"leader"`
	} `json:"cluster"`
}

// nodeView is a node's /jsz account detail of the MQTT stream: that
// node's replica's state and its consumers' (anxin's) as it holds them.
func nodeView(mon string) string {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(mon + "/jsz?acc=" + url.QueryEscape("$G") + "&streams=true&consumers=true")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var v struct {
		Accounts []struct {
			Streams []struct {
				Name    string `json:"name"`
				Cluster *struct {
					Leader string `json:"leader"`
				} `json:"cluster"`
				State struct {
					Msgs       uint64 `json:"messages"`
					FirstSeq   uint64 `json:"first_seq"`
					LastSeq    uint64 `json:"last_seq"`
					NumDeleted int    `json:"num_deleted"`
				} `json:"state"`
				Consumers []jszConsumer `json:"consumer_detail"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return err.Error()
	}
	for _, a := range v.Accounts {
		for _, s := range a.Streams {
			if s.Name != mqttStream {
				continue
			}
			leader := ""
			if s.Cluster != nil {
				leader = s.Cluster.Leader
			}
			out := fmt.Sprintf("stream messages %d, first seq %d, last seq %d, deleted %d (leader %s)",
				s.State.Msgs, s.State.FirstSeq, s.State.LastSeq, s.State.NumDeleted, leader)
			slices.SortFunc(s.Consumers, func(a, b jszConsumer) int { return strings.Compare(a.Name, b.Name) })
			for _, c := range s.Consumers {
				if !strings.HasPrefix(c.Name, "anxin") {
					continue
				}
				leader := ""
				if c.Cluster != nil {
					leader = c.Cluster.Leader
				}
				out += fmt.Sprintf("; %s delivered %d, ack floor %d, pending %d, unacknowledged %d (leader %s)",
					c.Name, c.Delivered.Stream, c.AckFloor.Stream, c.NumPending, c.NumAckPending, leader)
			}
			return out
		}
	}
	return "no " + mqttStream + " replica"
}
