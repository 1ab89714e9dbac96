package alarmd

import (
	"strings"
	"testing"
)

func TestNATSConfig(t *testing.T) {
	c, err := Parse([]byte("nats: {urls: [nats://127.0.0.1:4222, nats://127.0.0.1:4223], partitions: 6}\ncluster: {instance: a}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NATS.Enabled() || len(c.NATS.URLs) != 2 || c.NATS.Partitions != 6 || c.NATS.Stream != "$MQTT_msgs" ||
		c.NATS.Replicas != 3 || instanceName(c) != "a" {
		t.Fatalf("nats config: %+v", c.NATS)
	}
	// the environment's comma list
	c, err = Parse(nil, func(k string) (string, bool) {
		if k == "ANXIN_NATS_URLS" {
			return "nats://10.0.0.1:4222,nats://10.0.0.2:4222", true
		}
		return "", false
	})
	if err != nil || len(c.NATS.URLs) != 2 {
		t.Fatalf("ANXIN_NATS_URLS: %v %v", c, err)
	}
	if c, err := Parse(nil, noEnv); err != nil || c.NATS.Enabled() {
		t.Fatalf("default: nats off: %v", err)
	}
	for yaml, want := range map[string]string{
		"nats: {urls: [\"nats://alarmd:hunter2@127.0.0.1:4222\"]}":              "must not hold credentials",
		"nats: {urls: [\"http://127.0.0.1:4222\"]}":                             "nats.urls",
		"nats: {urls: [nats://127.0.0.1:4222], partitions: 0}":                  "nats.partitions",
		"nats: {urls: [nats://127.0.0.1:4222], consumer: a.b}":                  "nats.consumer",
		"nats: {urls: [nats://127.0.0.1:4222]}\nmqtt: {broker: tcp://x:1883}":   "mqtt.broker are both set",
		"nats: {urls: [nats://127.0.0.1:4222]}\ncluster: {lease: 1s, poll: 1s}": "cluster.lease",
	} {
		_, err := Parse([]byte(yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the password shows in %v", err)
		}
	}
}
