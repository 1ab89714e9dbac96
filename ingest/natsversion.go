package ingest

import (
	"strconv"
	"strings"
)

// MinNATSServer is the oldest nats-server alarmd consumes from without
// complaint. Debian's 2.9.10 (the tests' server until 2026-12) skips
// messages it has PUBACKed when its nodes fail under load: a partition's
// consumer, its leader moved to a node restarted moments before, advanced
// past messages that node's own replica of $MQTT_msgs held, never
// delivering them (e2e TestClusterFailover, docs/deployment.md "Broker
// tier"). 2.11.0 and 2.15.3 did not, in the same runs.
const MinNATSServer = "2.11.0"

// ServerOlder reports whether nats-server version v (as its INFO gives it)
// is older than MinNATSServer; false for "" and for what is no version.
func ServerOlder(v string) bool { return serverOlder(v, MinNATSServer) }

// serverOlder compares major.minor.patch; a pre-release ("2.11.0-RC.1")
// comes before its release.
func serverOlder(v, min string) bool {
	a, aPre, ok := semver(v)
	if !ok {
		return false
	}
	b, bPre, _ := semver(min)
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return aPre && !bPre
}

// semver reads "[v]major.minor[.patch][-pre]"; pre: it has a pre-release.
func semver(v string) (n [3]int, pre, ok bool) {
	v = strings.TrimPrefix(v, "v")
	v, suffix, pre := strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 || (pre && suffix == "") {
		return n, false, false
	}
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return n, false, false
		}
		n[i] = x
	}
	return n, pre, true
}
