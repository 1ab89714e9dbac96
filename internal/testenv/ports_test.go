package testenv

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestServerOnATakenPortMovesToAnother: when another process binds the
// port FreePort picked before the server does (another package's test, CI
// runs them all at once), the server is started again on another port
// rather than failing the test, or leaving it talking to the other
// process's server.
func TestServerOnATakenPortMovesToAnother(t *testing.T) {
	bin := Need(t, "mosquitto", "apt-get install -y mosquitto")
	taken, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	picks := 0
	pick := func(t testing.TB) int {
		picks++
		if picks == 1 {
			return takenPort
		}
		return FreePort(t)
	}
	dir := t.TempDir()
	p, port := startOnPicked(t, 10*time.Second, pick, func(port int) *Process {
		cf := filepath.Join(dir, "mosquitto-"+strconv.Itoa(port)+".conf")
		conf := "listener " + strconv.Itoa(port) + " 127.0.0.1\nallow_anonymous true\nuser root\nlog_dest stdout\n"
		if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		return startProcess(t, dir, bin, "-c", cf)
	})
	if port == takenPort || picks != 2 {
		t.Fatalf("server on port %d after %d picks; the taken port was %d", port, picks, takenPort)
	}
	if owner, known := groupOwns(p.pgid(), listeningInode(port)); known && !owner {
		t.Fatalf("port %d is not the server's", port)
	}
	if owner, known := groupOwns(p.pgid(), listeningInode(takenPort)); !known || owner {
		t.Fatalf("the taken port %d counted as the server's (known %v)", takenPort, known)
	}
}
