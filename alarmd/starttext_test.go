package alarmd

import (
	"context"
	"database/sql"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// TestStartErrorsInMandarin: what an operator can fix when alarmd does not
// start is said in Mandarin, naming the key or the file, from real
// failures of Open; no secret in either line.
func TestStartErrorsInMandarin(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		name   string
		break_ func(t *testing.T, cfg *Config)
		zh     string
	}{
		{"http port in use", func(t *testing.T, cfg *Config) { cfg.HTTP.Listen = busy.Addr().String() },
			"alarmd 未能启动：http.listen 的地址 " + busy.Addr().String() + " 已被别的程序占用"},
		{"broker port in use", func(t *testing.T, cfg *Config) { cfg.MQTT.Listen = busy.Addr().String() },
			"alarmd 未能启动：mqtt.listen 的地址 " + busy.Addr().String() + " 已被别的程序占用"},
		{"store dir missing", func(t *testing.T, cfg *Config) {
			cfg.Store.Path = filepath.Join(t.TempDir(), "gone", "alarmd.db")
		}, "alarmd 未能启动：打不开数据库 "},
		{"store not a database", func(t *testing.T, cfg *Config) {
			if err := os.WriteFile(cfg.Store.Path, []byte(strings.Repeat("not a database\n", 512)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "不是 alarmd 的数据库，或已经损坏"},
		{"store locked", func(t *testing.T, cfg *Config) {
			// another process's write lock: the store gives up after its busy timeout (10 s)
			db, err := sql.Open("sqlite", cfg.Store.Path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			db.SetMaxOpenConns(1)
			if _, err := db.Exec("PRAGMA locking_mode=EXCLUSIVE; CREATE TABLE hold(x); BEGIN EXCLUSIVE; INSERT INTO hold VALUES (1)"); err != nil {
				t.Fatal(err)
			}
		}, "被另一个进程锁住了"},
		{"gateway password in plain text", func(t *testing.T, cfg *Config) {
			cfg.MQTT.GatewayPasswordFile = filepath.Join(t.TempDir(), "gw.passwd")
			if err := os.WriteFile(cfg.MQTT.GatewayPasswordFile, []byte("hh-0001:hunter2-s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "配置有误，alarmd 未启动：gw.passwd 第 1 行，mqtt.gateway_password_file 项：值不对（网关登录密码文件"},
		{"gateway password file missing", func(t *testing.T, cfg *Config) {
			cfg.MQTT.GatewayPasswordFile = filepath.Join(t.TempDir(), "gw.passwd")
		}, "mqtt.gateway_password_file 项：读不到文件 "},
		{"ack key file", func(t *testing.T, cfg *Config) {
			if err := os.WriteFile(cfg.Store.Path+".ack-secret", []byte("hunter2-s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "确认链接的密钥文件 "},
		{"households missing", func(t *testing.T, cfg *Config) {
			cfg.HouseholdsFile = filepath.Join(t.TempDir(), "households.yaml")
		}, "配置有误，alarmd 未启动：households_file 项：读不到文件 "},
		{"rules missing", func(t *testing.T, cfg *Config) {
			cfg.RulesFile = filepath.Join(t.TempDir(), "rules.yaml")
		}, "配置有误，alarmd 未启动：rules_file 项：读不到文件 "},
		{"postgres down", func(t *testing.T, cfg *Config) {
			cfg.Store.URL = "postgres://anxin:pg-pass-s3cret@127.0.0.1:1/anxin?sslmode=disable&connect_timeout=5"
			cfg.Notify.AckSecret = "ack-0123456789abcdef-s3cret"
		}, "alarmd 未能启动：连不上数据库（store.url）"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t)
			c.break_(t, cfg)
			m := &Main{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
			err := m.Open(context.Background())
			if err == nil {
				_ = m.Close()
				t.Fatal("Open succeeded")
			}
			zh, en := StartErrorText(err, cfg), err.Error()
			t.Logf("\n%s\n%s", zh, en)
			if !strings.Contains(zh, c.zh) {
				t.Errorf("Mandarin line lacks %q:\n%s\n%s", c.zh, zh, en)
			}
			for _, s := range neverShown {
				if strings.Contains(zh, s) || strings.Contains(en, s) {
					t.Errorf("%q is shown:\n%s\n%s", s, zh, en)
				}
			}
		})
	}
}
