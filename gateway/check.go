package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
	"github.com/anxin-care/anxin/internal/textwidth"
)

// CheckRow is one line of `gatewayd check`: what one configured device did.
type CheckRow struct {
	Instance, Driver string
	Port             string // serial port label, or the home broker; "" if none
	Device           string
	Answer           string // the fields it sent, when it answered
	Problem          string // why not: no answer, the port's error
}

// OK reports whether the device answered.
func (r CheckRow) OK() bool { return r.Answer != "" }

// Check runs every configured driver once, as gatewayd would (same code,
// ports opened, each meter polled in the first round), with a sink that
// keeps the first message of each device instead of spooling it. It stops
// when every device answered or wait passed, and returns a row per
// configured device (sorted as configured).
func Check(ctx context.Context, cfg *Config, wait time.Duration) []CheckRow {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var (
		mu       sync.Mutex
		answered = map[string]string{} // instance/device -> fields
		problems = map[string]string{} // instance -> last warning or error
		rows     []CheckRow
		left     int
		done     = make(chan struct{})
	)
	for _, e := range cfg.Drivers {
		port := portOf(e.Config)
		for _, dev := range devicesOf(e.Config) {
			rows = append(rows, CheckRow{Instance: e.Name, Driver: e.Driver, Port: port, Device: dev})
		}
	}
	left = len(rows)
	if left == 0 {
		close(done)
	}
	log := slog.New(&problemHandler{mu: &mu, problems: problems})
	buses := serialport.NewBuses(log, nil)
	var wg sync.WaitGroup
	for _, e := range cfg.Drivers {
		env := drivers.Env{Household: cfg.Household, Logger: log.With("instance", e.Name), Now: time.Now,
			Metrics: metrics.NewRegistry(), Serial: buses}
		d, err := e.Plugin.New(e.Config, env)
		if err != nil {
			mu.Lock()
			problems[e.Name] = err.Error()
			mu.Unlock()
			continue
		}
		sink := drivers.SinkFunc(func(_ context.Context, m anxin.Message) error {
			mu.Lock()
			defer mu.Unlock()
			key := e.Name + "/" + m.Device
			if _, seen := answered[key]; !seen {
				answered[key] = describe(m)
				for _, r := range rows {
					if r.Instance == e.Name && r.Device == m.Device {
						if left--; left == 0 {
							close(done)
						}
					}
				}
			}
			return nil
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.Run(ctx, sink); err != nil {
				mu.Lock()
				problems[e.Name] = err.Error()
				mu.Unlock()
			}
		}()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	for i := range rows {
		r := &rows[i]
		if a, ok := answered[r.Instance+"/"+r.Device]; ok {
			r.Answer = a
			continue
		}
		r.Problem = zhDuration(wait) + "内没有应答"
		p := problems[r.Instance]
		if why := portProblemZh(p); why != "" {
			r.Problem += "：" + why
		}
		r.Problem += "（no answer within " + wait.String()
		if p != "" {
			r.Problem += ": " + p
		}
		r.Problem += "）"
	}
	return rows
}

// zhDuration writes d for an installer: "10 秒", "2 分钟", else Go's form.
func zhDuration(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d 分钟", d/time.Minute)
	case d >= time.Second && d%time.Second == 0:
		return fmt.Sprintf("%d 秒", d/time.Second)
	}
	return d.String()
}

// portProblemZh says in Mandarin what an installer can do about the
// common reasons a driver heard nothing (its port's or broker's error, as
// the English detail gives it); "" when there is no known one.
func portProblemZh(p string) string {
	p = strings.ToLower(p)
	switch {
	case p == "":
		return "" // the port opened: the device itself did not answer
	case strings.Contains(p, "usb adapters match"): // serialport: usb vid:pid fits several
		return "插着多个同型号的 USB 串口转换器（配置里用 usb.serial 指定是哪一个）"
	case strings.Contains(p, "listen tcp"): // tcpserver (jt808, watch3g): not a serial port
		switch {
		case strings.Contains(p, "permission denied"):
			return "没有权限监听这个端口（1024 以下的端口要 root 权限，换一个端口）"
		case strings.Contains(p, "address already in use"):
			return "这个端口被别的程序占用"
		}
		return ""
	case strings.Contains(p, "not authorized"), strings.Contains(p, "bad user name or password"):
		// before "connect": mqttsource logs them as "home broker connect failed: …"
		return "本机 MQTT 拒绝登录（用户名或密码不对）"
	case strings.Contains(p, "permission denied"):
		return "没有串口权限（anxin 用户在 dialout 组里吗？）"
	case strings.Contains(p, "not found"), strings.Contains(p, "no such file"):
		return "找不到串口（没插好，或配置里的路径写错）"
	case strings.Contains(p, "not a serial port"), strings.Contains(p, "inappropriate ioctl"):
		return "这个路径不是串口（路径写错）"
	case strings.Contains(p, "busy"):
		return "串口被别的程序占用"
	case strings.Contains(p, "connection refused"), strings.Contains(p, "broker") && strings.Contains(p, "connect"):
		// not any "connect": tcpserver's "connections refused: too many
		// devices connected" is about the devices, not the broker
		return "连不上本机 MQTT（mosquitto 没有运行，或地址端口写错）"
	}
	return ""
}

// PrintCheck writes the rows as a table.
func PrintCheck(w io.Writer, rows []CheckRow) {
	table := [][]string{{"名称", "驱动", "串口", "设备", "结果"}}
	for _, r := range rows {
		res := "正常  " + r.Answer
		if !r.OK() {
			res = "无应答  " + r.Problem
		}
		table = append(table, []string{r.Instance, r.Driver, r.Port, r.Device, res})
	}
	// tabwriter counts runes; a Han character takes two columns on a
	// terminal, so the widths are counted here (textwidth, as anxinctl's)
	widths := make([]int, len(table[0]))
	for _, row := range table {
		for i, cell := range row {
			widths[i] = max(widths[i], textwidth.Width(cell))
		}
	}
	for _, row := range table {
		var b strings.Builder
		for i, cell := range row {
			b.WriteString(cell)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-textwidth.Width(cell)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// describe is a message's fields or event, short.
func describe(m anxin.Message) string {
	if m.IsEvent() {
		return "event " + string(m.Event)
	}
	keys := make([]string, 0, len(m.Fields))
	for k := range m.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", k, m.Fields[k])
	}
	if b.Len() == 0 {
		return "a message"
	}
	return b.String()
}

// problemHandler keeps each instance's last warning or error, for the
// rows of devices that did not answer.
type problemHandler struct {
	mu       *sync.Mutex
	problems map[string]string
	attrs    []slog.Attr
}

func (h *problemHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *problemHandler) Handle(_ context.Context, r slog.Record) error {
	var instance, why string
	msg := r.Message
	each := func(a slog.Attr) bool {
		switch a.Key {
		case "instance":
			instance = a.Value.String()
		case "err":
			why = a.Value.String()
		}
		return true
	}
	for _, a := range h.attrs {
		each(a)
	}
	r.Attrs(each)
	if why != "" {
		msg += ": " + why
	}
	h.mu.Lock()
	h.problems[instance] = msg
	h.mu.Unlock()
	return nil
}

func (h *problemHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &problemHandler{mu: h.mu, problems: h.problems, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h *problemHandler) WithGroup(string) slog.Handler { return h }

var (
	serialConfigType = reflect.TypeFor[serialport.Config]()
	brokerType       = reflect.TypeFor[anxin.BrokerURL]()
)

// portOf finds the serial port (or the home broker) in a driver's config.
func portOf(cfg drivers.Config) string {
	var port string
	walkConfig(reflect.ValueOf(cfg), func(f reflect.StructField, v reflect.Value) {
		switch {
		case port != "":
		case v.Type() == serialConfigType:
			port = v.Interface().(serialport.Config).Label()
		case v.Type() == brokerType:
			port = v.Interface().(anxin.BrokerURL).String()
		}
	})
	return port
}

// devicesOf lists the device ids a driver's config names (every `device`
// key, in order, once each).
func devicesOf(cfg drivers.Config) []string {
	var devs []string
	walkConfig(reflect.ValueOf(cfg), func(f reflect.StructField, v reflect.Value) {
		if f.Name == "Device" && v.Kind() == reflect.String && v.String() != "" && !slices.Contains(devs, v.String()) {
			devs = append(devs, v.String())
		}
	})
	return devs
}

// walkConfig calls fn for every exported struct field under v.
func walkConfig(v reflect.Value, fn func(reflect.StructField, reflect.Value)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkConfig(v.Elem(), fn)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkConfig(v.Index(i), fn)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fn(f, v.Field(i))
			if v.Field(i).Type() != serialConfigType && v.Field(i).Type() != brokerType {
				walkConfig(v.Field(i), fn)
			}
		}
	}
}

// RegisterProblems compares the devices of cfg with the household register
// (households.yaml, as alarmd reads it): a device gatewayd sends for that
// the register does not list would be refused centrally (an error); a
// registered device no driver reads is a warning.
func RegisterProblems(cfg *Config, register []byte) (errs, warnings []string, err error) {
	var doc struct {
		Households []anxin.Household `yaml:"households"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(register)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("households: %w", err)
	}
	i := slices.IndexFunc(doc.Households, func(h anxin.Household) bool { return h.ID == cfg.Household })
	if i < 0 {
		return []string{fmt.Sprintf("住户 %s 不在登记表中（household %s is not in the register）", cfg.Household, cfg.Household)}, nil, nil
	}
	registered := map[string]bool{}
	for _, d := range doc.Households[i].Devices {
		registered[d.ID] = true
	}
	read := map[string]bool{}
	for _, e := range cfg.Drivers {
		for _, dev := range devicesOf(e.Config) {
			read[dev] = true
			if !registered[dev] {
				errs = append(errs, fmt.Sprintf("设备 %s（驱动 %s）没有登记在住户 %s 下，中心会拒收它的数据（device %s (driver %s) is not registered for household %s）",
					dev, e.Name, cfg.Household, dev, e.Name, cfg.Household))
			}
		}
	}
	for _, d := range doc.Households[i].Devices {
		if !read[d.ID] {
			warnings = append(warnings, fmt.Sprintf("已登记的设备 %s（%s）在这里没有驱动读取（registered device %s (%s) is read by no driver here）", d.ID, d.Kind, d.ID, d.Kind))
		}
	}
	return errs, warnings, nil
}
