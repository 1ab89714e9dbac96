package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/alarmd"
	_ "github.com/anxin-care/anxin/drivers/all" // the walkthrough's config names every driver
	"github.com/anxin-care/anxin/gateway"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/rules"
)

// selfSignedPEM is a throwaway CA certificate.
func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "district CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestWalkthroughConfigsParse loads the configs shown in
// docs/walkthrough.md through the real strict loaders, so the page cannot
// drift from the code.
func TestWalkthroughConfigsParse(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "walkthrough.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlock.FindAllStringSubmatch(string(b), -1)
	var gw, hh, rl int
	for _, m := range blocks {
		y := m[1]
		switch {
		case strings.HasPrefix(y, "household:"):
			gw++
			// the files it names are read at load: give it real ones
			dir := t.TempDir()
			y = strings.ReplaceAll(y, "/etc/anxin/mqtt-password", writeFile(t, filepath.Join(dir, "pw"), "secret\n"))
			y = strings.ReplaceAll(y, "/etc/anxin/district-ca.pem", writeFile(t, filepath.Join(dir, "ca.pem"), selfSignedPEM(t)))
			if _, err := gateway.Parse([]byte(y)); err != nil {
				t.Errorf("the installer's gatewayd.yaml does not load: %v", err)
			}
		case strings.HasPrefix(y, "households:"):
			hh++
			if _, err := alarmd.ParseHouseholds([]byte(y)); err != nil {
				t.Errorf("the operator's households.yaml does not load: %v", err)
			}
		case strings.HasPrefix(y, "  - name:"):
			rl++
			if _, err := rules.Parse([]byte("rules:\n" + y)); err != nil {
				t.Errorf("the operator's rules do not load: %v", err)
			}
		}
	}
	if gw != 1 || hh != 1 || rl != 1 {
		t.Fatalf("found %d gatewayd, %d households, %d rules blocks in the walkthrough; want one each", gw, hh, rl)
	}
}
