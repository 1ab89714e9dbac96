package alarmd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/anxin-care/anxin/mqtt"
)

// brokerConfig is the embedded broker's identity settings from cfg: the
// gateways' password file and the optional TLS listener with client
// certificates from the local CA.
func brokerConfig(cfg *Config) (mqtt.BrokerConfig, error) {
	bc := mqtt.BrokerConfig{Listen: cfg.MQTT.Listen}
	if f := cfg.MQTT.GatewayPasswordFile; f != "" {
		p, err := mqtt.LoadPasswords(f)
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
