package alarmd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/internal/testenv"
)

// http.debug_listen serves the heap profile on loopback, not on the main
// listener, and is refused anywhere else.
func TestDebugListenServesProfilesOnLoopbackOnly(t *testing.T) {
	for yaml, want := range map[string]string{
		`http: {debug_listen: "0.0.0.0:6060"}`:   "not loopback",
		`http: {debug_listen: "192.0.2.7:6060"}`: "not loopback",
		`http: {debug_listen: "127.0.0.1:6060"}`: "",
	} {
		_, err := Parse([]byte(yaml), noEnv)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
	cfg := testConfig(t)
	cfg.HTTP.DebugListen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	m := &Main{Config: cfg}
	startMain(t, m)
	code, body := get(t, "http://"+cfg.HTTP.DebugListen+"/debug/pprof/heap?debug=1")
	if code != 200 || !strings.Contains(body, "heap profile") {
		t.Fatalf("debug listener: %d %.80q", code, body)
	}
	if code, _ := get(t, "http://"+m.HTTPAddr()+"/debug/pprof/heap"); code == 200 {
		t.Fatal("the main listener serves profiles")
	}
}
