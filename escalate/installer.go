package escalate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// tellInstallers sends an installer alarm's SMS to every installer, at most
// once per device and local day: a device that flaps, or goes silent and
// then reports a low battery, is one SMS a day, not one per alarm. The
// attempt id is the per-device-per-day key, so a restart sends nothing
// twice either.
func (s *Service) tellInstallers(ctx context.Context, c *anxin.Chain, now time.Time) (time.Time, error) {
	alarm, err := s.alarms.Alarm(ctx, c.AlarmID)
	if err != nil {
		return time.Time{}, fmt.Errorf("alarm %s: %w", c.AlarmID, err)
	}
	h, err := s.households.Household(ctx, c.Household)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		h, err = anxin.Household{ID: c.Household}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	device := alarm.Device
	if device == "" {
		device = "gateway"
	}
	day := alarm.OpenedAt.In(s.cfg.Location).Format("20060102")
	body := installerText(&alarm, &h, s.cfg.Location)
	var wake time.Time
	for i, t := range c.Targets {
		n := anxin.Notification{
			AttemptID: fmt.Sprintf("kit-%s-%s-%s/%s%d/sms", c.Household, device, day, anxin.PurposeInstaller, i),
			AlarmID:   c.AlarmID, To: t.Phone, Channel: anxin.ChannelSMS, Body: body,
		}
		w, err := s.ensure(ctx, anxin.PurposeInstaller, -1, i, n, now)
		if err != nil {
			return time.Time{}, err
		}
		wake = earliest(wake, w)
	}
	if !wake.IsZero() {
		return wake, nil
	}
	c.Finished, c.UpdatedAt = true, now
	s.log.Info("installers told", "alarm", c.AlarmID, "household", c.Household, "device", device, "installers", len(c.Targets))
	return time.Time{}, s.store.SaveChain(ctx, c)
}

var kitWords = map[anxin.Kind]string{
	anxin.KindCallButton:        "一键呼叫按钮",
	anxin.KindWaterMeter:        "水表",
	anxin.KindPowerMeter:        "电表",
	anxin.KindGasDetector:       "燃气报警器",
	anxin.KindSmokeDetector:     "烟感报警器",
	anxin.KindWaterLeakDetector: "水浸报警器",
	anxin.KindTracker:           "定位器",
}

// installerText is an installer alarm's SMS: whose home, which device (by
// its kind, never its id), what is wrong, since when.
func installerText(a *anxin.Alarm, h *anxin.Household, loc *time.Location) string {
	device := "网关"
	if a.Device != "" {
		device = "设备"
		for _, d := range h.Devices {
			if d.ID == a.Device && kitWords[d.Kind] != "" {
				device = kitWords[d.Kind]
			}
		}
	}
	what := "需要检修"
	switch {
	case a.RuleKind == "offline":
		what = "离线"
	case a.RuleKind == "device_silent" || a.Rule == "device_silent":
		what = "长时间没有数据"
	case containsFold(a.Reason, "tamper"):
		what = "被拆动"
	case containsFold(a.Rule, "battery") || containsFold(a.Reason, "battery"):
		what = "电量低"
	}
	return fmt.Sprintf("【安心】设备维护：%s家%s的%s%s，%s起。请安排上门检修。",
		elderName(h), where(h), device, what, when(a.OpenedAt, loc))
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
}
