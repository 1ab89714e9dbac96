package escalate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
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
			AttemptID: s.installerAttemptID(c.Household, device, day, t.Phone),
			AlarmID:   c.AlarmID, To: t.Phone, Channel: anxin.ChannelSMS, Body: body,
		}
		// the first alarm of the device-day owns the notice: ensure leaves a
		// row another alarm made to that alarm's chain
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

// installerAttemptID is the key of one installer's notice about one device
// on one local day: "kit.<household>.<device>.<yyyymmdd>/installer-<tag>/sms".
// Ids cannot hold ".", so no two keys run together. The tag is an HMAC of
// the installer's phone under the ack secret (not its position, so a
// reordered list re-tells nobody; keyed, so the attempt ids that reach logs
// and providers do not give the number away to a dictionary of numbers).
func (s *Service) installerAttemptID(household, device, day, phone string) string {
	m := hmac.New(sha256.New, s.cfg.AckSecret)
	m.Write([]byte(phone))
	return fmt.Sprintf("kit.%s.%s.%s/%s-%x/sms", household, device, day, anxin.PurposeInstaller, m.Sum(nil)[:5])
}
