package alarmd

import (
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/anxin-care/anxin/internal/configerr"
)

// StartErrorText says in Mandarin, in one line, why alarmd did not start
// when an operator can fix it: a file missing or not readable, a port in
// use, the store locked or not a database, a bad kept key. It is printed
// before the structured log line with the English error. A configuration
// error reads as ConfigErrorText; a failure it does not know points to the
// English line. Never a secret: it is built from cfg's paths and listen
// addresses and the error's file path or address, never from its text (a
// PostgreSQL error may quote the DSN).
func StartErrorText(err error, cfg *Config) string {
	const lead = "alarmd 未能启动："
	var ce *configerr.ConfigError
	if errors.As(err, &ce) {
		return ConfigErrorText(err, AtStart)
	}
	if cfg == nil {
		cfg = &Config{}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "listen" {
		addr, key := listenOf(err, cfg)
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			return lead + key + " 的地址 " + addr + " 已被别的程序占用（可能另一个 alarmd 还在运行）：先停掉它（用 ss -ltnp 查是哪个程序），或在配置文件里给 " + key + " 换一个端口"
		case errors.Is(err, syscall.EACCES):
			return lead + "没有权限监听 " + addr + "（" + key + "）：1024 以下的端口要给 alarmd 加 CAP_NET_BIND_SERVICE，或换一个 1024 以上的端口"
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			return lead + key + " 的地址 " + addr + " 不是本机的地址：写 127.0.0.1、0.0.0.0 或本机网卡的地址"
		}
		return lead + "不能监听 " + addr + "（" + key + "），原因见下面的英文说明"
	}
	if ackKeyError(err) {
		return lead + "确认链接的密钥文件 " + cfg.Store.Path + ".ack-secret 内容不对：删掉它，alarmd 会重新生成一个（已经发出的确认链接随之失效）；或在配置里写 notify.ack_secret"
	}
	if storeError(err) {
		where := "数据库 " + cfg.Store.Path + "（store.path）"
		if cfg.Store.URL != "" {
			where = "数据库（store.url）"
		}
		var coded interface{ Code() int }
		code := -1
		if errors.As(err, &coded) {
			code = coded.Code() & 0xff // the primary SQLite result code
		}
		switch {
		case code == 5 || code == 6: // SQLITE_BUSY, SQLITE_LOCKED
			return lead + where + "被另一个进程锁住了：可能另一个 alarmd 正在用同一个数据库文件，先停掉它"
		case code == 26 || code == 11: // SQLITE_NOTADB, SQLITE_CORRUPT
			return lead + where + "不是 alarmd 的数据库，或已经损坏：核对 store.path，必要时从备份恢复"
		case code == 14 || code == 8 || code == 3 || errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist):
			// SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM
			return lead + "打不开" + where + "：确认目录 " + filepath.Dir(cfg.Store.Path) + " 存在，且 alarmd 的用户能读写它（如 chown anxin:anxin）"
		case cfg.Store.URL != "":
			return lead + "连不上" + where + "：确认 PostgreSQL 在运行、地址和密码正确，原因见下面的英文说明"
		}
		return lead + "打不开" + where + "，原因见下面的英文说明"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return lead + "找不到文件 " + pe.Path + "，请核对路径"
		case errors.Is(err, fs.ErrPermission):
			return lead + "没有权限读写 " + pe.Path + "：要让 alarmd 的用户能读写它"
		}
	}
	return lead + "原因见下面的英文说明"
}

// listenOf is the address and the key of a failed listen.
func listenOf(err error, cfg *Config) (addr, key string) {
	keys := []struct{ key, addr string }{
		{"http.listen", cfg.HTTP.Listen}, {"http.debug_listen", cfg.HTTP.DebugListen},
		{"mqtt.tls.listen", cfg.MQTT.TLS.Listen}, {"mqtt.listen", cfg.MQTT.Listen},
	}
	s := err.Error()
	for _, k := range keys { // the wrapping names the key: "alarmd: http.listen 127.0.0.1:8080: …"
		if strings.Contains(s, k.key+" ") && k.addr != "" {
			return k.addr, k.key
		}
	}
	for _, k := range keys {
		if k.addr != "" && strings.Contains(s, k.addr) {
			return k.addr, k.key
		}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
		addr = oe.Addr.String()
	}
	return addr, "mqtt.listen" // the embedded broker's listeners do not name their key
}

func storeError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "open store") || strings.HasPrefix(s, "create schema in") || strings.HasPrefix(s, "migrate store")
}

func ackKeyError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "ack link key:") || strings.Contains(s, ".ack-secret: not the hex key")
}
