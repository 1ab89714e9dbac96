package escalate

import (
	"context"
	"fmt"
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
	body := s.cfg.Words.Installer(&alarm, &h)
	var wake time.Time
	for i, t := range c.Targets {
		n := anxin.Notification{
			AttemptID: fmt.Sprintf("kit-%s-%s-%s/%s%d/sms", c.Household, device, day, anxin.PurposeInstaller, i),
			AlarmID:   c.AlarmID, To: t.Phone, Channel: anxin.ChannelSMS, Body: body,
		}
		w, err := s.ensureRoutes(ctx, anxin.PurposeInstaller, -1, i, n, now)
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
