package alarmd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"

	"github.com/anxin-care/anxin/internal/configerr"
	"github.com/anxin-care/anxin/mqtt"
)

// brokerConfig is the embedded broker's identity settings from cfg: the
// gateways' password file and the optional TLS listener with client
// certificates from the local CA.
func brokerConfig(cfg *Config) (mqtt.BrokerConfig, error) {
	bc := mqtt.BrokerConfig{Listen: cfg.MQTT.Listen}
	if f := cfg.MQTT.GatewayPasswordFile; f != "" {
		p, err := loadGatewayPasswords(f)
		if err != nil {
			return bc, err
		}
		bc.Passwords = p
	}
	if t := cfg.MQTT.TLS; t.Listen != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return bc, fmt.Errorf("mqtt.tls: certificate: %w", err)
		}
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return bc, fmt.Errorf("mqtt.tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return bc, fmt.Errorf("mqtt.tls: client_ca_file %s holds no PEM certificate", t.ClientCAFile)
		}
		bc.TLSListen = t.Listen
		bc.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return bc, nil
}

// loadGatewayPasswords reads mqtt.gateway_password_file, its errors typed
// for the operator's Mandarin line: the file not readable, or the line
// that is wrong in it (never a hash: the reader does not quote them).
func loadGatewayPasswords(path string) (*mqtt.Passwords, error) {
	p, err := mqtt.LoadPasswords(path)
	if err == nil {
		return p, nil
	}
	const key = "mqtt.gateway_password_file"
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, unreadableFile(key, path, err)
	}
	ce := configerr.NewConfigError(configerr.ValueBad, key, "%v", err)
	if m := passwdLine.FindStringSubmatch(err.Error()); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
		ce.File = path
	}
	ce.Err = err
	return nil, typed(ce)
}

var passwdLine = regexp.MustCompile(`: line ([0-9]+)`)
