package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"
)

// Postgres is a PostgreSQL server of its own for one test (or one package's
// tests): a fresh cluster in a temp dir on a free 127.0.0.1 port, trust
// authentication for the user postgres, stopped and removed at cleanup.
type Postgres struct {
	*Process
	Port int
	bin  string
	dir  string
}

// StartPostgres initialises and starts a cluster with Debian's PostgreSQL
// server binaries (/usr/lib/postgresql/<version>/bin; apt-get install -y
// postgresql). initdb refuses root, so as root the cluster belongs to the
// user postgres and its programs run through runuser.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL server binaries not found: the test command must install them (apt-get install -y postgresql)")
		}
		t.Skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) not found; install them with: apt-get install -y postgresql")
	}
	sort.Strings(bins)
	bin := filepath.Dir(bins[len(bins)-1]) // the newest version
	// not t.TempDir: its parents are private to root, and the server runs as postgres
	dir, err := os.MkdirTemp("", "anxin-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var asPostgres []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the user postgres (made by the postgresql package): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		asPostgres = []string{"/usr/sbin/runuser", "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	initdb := append(append([]string{}, asPostgres...), filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	if out, err := exec.Command(initdb[0], initdb[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	proc, port := startOnFreePort(t, 30*time.Second, func(port int) *Process {
		args := append(append([]string{}, asPostgres...), filepath.Join(bin, "postgres"), "-D", data,
			"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port), "-k", dir,
			"-c", "max_connections=200", "-c", "shared_buffers=32MB")
		return startProcess(t, dir, args[0], args[1:]...)
	})
	p := &Postgres{Process: proc, Port: port, bin: bin, dir: dir}
	isready := filepath.Join(bin, "pg_isready")
	Eventually(t, "postgres accepts connections", 30*time.Second, func() bool {
		return exec.Command(isready, "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres").Run() == nil
	})
	return p
}

// URL is the connection URL of database db ("postgres" always exists).
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}
