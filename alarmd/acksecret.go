package alarmd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ackSecret is the key of the ack links (and, derived, of the web app's
// browser marks): notify.ack_secret, or else a key made at the first start
// and kept beside the SQLite store (<store.path>.ack-secret, 0600). Made
// anew at every start, as it was until 2026-12-07, it broke every link
// already sent at a restart, and a step whose send was adopted after a
// crash (looked up at the provider by its text) carried another link,
// missed the lookup and went out twice. Several alarmd sharing a
// PostgreSQL store must be given the same notify.ack_secret.
func (m *Main) ackSecret() ([]byte, error) {
	m.ackOnce.Do(func() { m.ackKey, m.ackErr = m.loadAckSecret() })
	return m.ackKey, m.ackErr
}

// ackSecretLen is the length of a kept key, in bytes.
const ackSecretLen = 32

func (m *Main) loadAckSecret() ([]byte, error) {
	cfg := m.Config
	if s := cfg.Notify.AckSecret.Reveal(); s != "" {
		return []byte(s), nil
	}
	if cfg.Store.URL != "" {
		// several alarmd: a link one sent is opened on any of them
		return nil, errors.New("config: notify.ack_secret must be set with store.url: every alarmd sharing the store must sign and check ack links with the same key")
	}
	path := cfg.Store.Path + ".ack-secret"
	if b, err := os.ReadFile(path); err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < 16 {
			return nil, fmt.Errorf("%s: not the hex key alarmd writes there (remove it to have a new one made; links already sent then stop working)", path)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("ack link key: %w", err)
	}
	key := make([]byte, ackSecretLen)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go ≥ 1.24)
	// Written whole beside it, then linked in: the kept file is never
	// seen empty or cut short. Created empty and written after, a start
	// at the same moment read no key and refused to start, and a crash
	// in between left a file every later start refused.
	err := keepWhole(path, []byte(hex.EncodeToString(key)+"\n"))
	switch {
	case err == nil:
		m.Logger.Info("notify.ack_secret is empty: ack links are signed with a key made now and kept beside the store", "path", path)
		return key, nil
	case errors.Is(err, os.ErrExist): // another start made it meanwhile
		return m.loadAckSecret()
	}
	m.Logger.Warn("notify.ack_secret is empty and no key can be kept beside the store: ack links use a random key and stop working at restart",
		"path", path, "err", err)
	return key, nil
}

// keepWhole makes path (0600) with b, synced, unless it exists
// (os.ErrExist): written to a file of its own first and hard-linked, so
// path holds all of b from the moment it exists.
func keepWhole(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*") // 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(b)
	serr := f.Sync()
	if err := errors.Join(werr, serr, f.Close()); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil { // the link itself survives a power cut
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
