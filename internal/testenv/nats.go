package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NATSCluster is a cluster of nats-server processes for one test: cluster
// routes between every node, JetStream (file store in the test's temp dir,
// one server_name each) and an MQTT listener on each node (MQTT needs
// JetStream). The nats-server first in PATH: Debian's (apt-get install -y
// nats-server) is 2.9.10, older than alarmd requires (ingest.MinNATSServer:
// under load it skips messages it PUBACKed when a node fails, so the
// failover tests can lose readings on it); put a newer one first in PATH.
type NATSCluster struct {
	t     testing.TB
	nodes []*natsNode
}

type natsNode struct {
	*Process
	name              string
	client, mqtt, mon int
}

// StartNATSCluster starts n nodes and waits until JetStream's meta leader is
// elected and every node knows it. extra is appended to every node's
// config (e.g. a mappings block).
func StartNATSCluster(t testing.TB, n int, extra string) *NATSCluster {
	t.Helper()
	bin := Need(t, "nats-server", "apt-get install -y nats-server")
	// FreePort's ports are free when picked, not when a node binds them:
	// another package's test may bind one first. A node that found one of
	// its ports taken makes the whole cluster start again on fresh ports.
	for try := 1; ; try++ {
		c, taken := startNATSNodes(t, bin, n, extra)
		if !taken {
			for i := range c.nodes {
				c.waitReady(i)
			}
			return c
		}
		for _, nd := range c.nodes {
			nd.Kill()
		}
		if try == 3 {
			t.Fatalf("nats-server: a port was taken at each of %d starts", try)
		}
		t.Logf("nats-server: a port was taken by another test; starting the cluster again on fresh ports")
	}
}

// startNATSNodes starts an n-node cluster and waits for each node to
// listen for clients and MQTT; taken: a node exited because one of its
// ports was in use.
func startNATSNodes(t testing.TB, bin string, n int, extra string) (c *NATSCluster, taken bool) {
	t.Helper()
	c = &NATSCluster{t: t}
	routes := make([]int, n)
	for i := range n {
		routes[i] = FreePort(t)
		c.nodes = append(c.nodes, &natsNode{name: "n" + strconv.Itoa(i), client: FreePort(t), mqtt: FreePort(t), mon: FreePort(t)})
	}
	var rs []string
	for _, p := range routes {
		rs = append(rs, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	for i, nd := range c.nodes {
		dir := t.TempDir()
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
}
cluster {
  name: anxin
  listen: 127.0.0.1:%d
  routes: [%s]
}
mqtt {
  listen: 127.0.0.1:%d
}
%s
`, nd.name, nd.client, nd.mon, filepath.Join(dir, "js"), routes[i], strings.Join(rs, ", "), nd.mqtt, extra)
		cf := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		nd.Process = startProcess(t, dir, bin, "-c", cf)
	}
	for _, nd := range c.nodes {
		for _, port := range []int{nd.client, nd.mqtt} {
			ok, taken := listensOwn(nd.Process, port, 20*time.Second)
			if taken {
				return c, true
			}
			if !ok {
				t.Fatalf("%s (%s) not listening on 127.0.0.1:%d:\n%s", nd.name, bin, port, nd.Output())
			}
		}
	}
	return c, false
}

// waitReady waits until node i listens for clients and MQTT and knows
// JetStream's meta leader.
func (c *NATSCluster) waitReady(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	waitTCP(c.t, nd.Process, fmt.Sprintf("127.0.0.1:%d", nd.client), 20*time.Second)
	waitTCP(c.t, nd.Process, fmt.Sprintf("127.0.0.1:%d", nd.mqtt), 20*time.Second)
	Eventually(c.t, "JetStream meta leader known to "+nd.name, 60*time.Second, func() bool {
		return c.MetaLeader(i) != ""
	})
}

// MetaLeader is the JetStream meta leader as node i sees it ("" none).
func (c *NATSCluster) MetaLeader(i int) string {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz", c.nodes[i].mon))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var v struct {
		Meta *struct {
			Leader string `json:"leader"`
		} `json:"meta_cluster"`
	}
	if json.NewDecoder(resp.Body).Decode(&v) != nil || v.Meta == nil {
		return ""
	}
	return v.Meta.Leader
}

// Len is the number of nodes.
func (c *NATSCluster) Len() int { return len(c.nodes) }

// Name is node i's server_name.
func (c *NATSCluster) Name(i int) string { return c.nodes[i].name }

// URLs are the nodes' client URLs (nats://127.0.0.1:<port>).
func (c *NATSCluster) URLs() []string {
	var out []string
	for _, nd := range c.nodes {
		out = append(out, fmt.Sprintf("nats://127.0.0.1:%d", nd.client))
	}
	return out
}

// MQTTAddr is host:port of node i's MQTT listener.
func (c *NATSCluster) MQTTAddr(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.nodes[i].mqtt) }

// MQTTURL is tcp://host:port of node i's MQTT listener.
func (c *NATSCluster) MQTTURL(i int) string { return "tcp://" + c.MQTTAddr(i) }

// Kill SIGKILLs node i and waits for it to exit.
func (c *NATSCluster) Kill(i int) { c.nodes[i].Kill() }

// Restart starts node i again (after Kill) with its config, ports and
// store, and waits until it is ready.
func (c *NATSCluster) Restart(i int) {
	c.t.Helper()
	c.nodes[i].Process.Restart()
	c.waitReady(i)
}

// MonitorURL is node i's monitoring endpoint (http://127.0.0.1:<port>:
// /jsz there is that node's own view of its stream and consumer replicas).
func (c *NATSCluster) MonitorURL(i int) string {
	return fmt.Sprintf("http://127.0.0.1:%d", c.nodes[i].mon)
}

// Output is what node i printed.
func (c *NATSCluster) Output(i int) string { return c.nodes[i].Output() }
