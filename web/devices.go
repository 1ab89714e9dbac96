package web

import (
	"net/http"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

// deviceRow is one device of a household on the device health page.
type deviceRow struct {
	ID, Kind, Place string
	Problem         string // the open maintenance alarm's words; "" when fine
	Since           string
}

type householdRow struct {
	ID, Elder string
	Devices   []deviceRow
	Problems  int
}

// devicesPage is 设备健康: every household's kit with what alarmd's
// maintenance rules (device silent, gateway offline, low battery, tamper)
// currently say is wrong, from their open installer alarms; ?need=1 keeps
// the households that need an installer.
func (s *Server) devicesPage(req *request) error {
	hs, err := req.api.AreaHouseholds(req.ctx)
	if err != nil {
		return err
	}
	alarms, err := req.api.Alarms30(req.ctx, "")
	if err != nil {
		return err
	}
	type key struct{ hh, dev string }
	open := map[key]anxin.Alarm{}
	for _, a := range alarms {
		if a.Route == anxin.RouteInstaller && a.State != anxin.AlarmResolved {
			open[key{a.Household, a.Device}] = a
		}
	}
	book := words.Default()
	need := req.r.URL.Query().Get("need") == "1"
	var rows []householdRow
	for _, h := range hs {
		r := householdRow{ID: h.ID, Elder: anxin.MaskName(h.Elder.Name)}
		devs := append([]anxin.Device{{ID: anxin.GatewayDevice}}, h.Devices...)
		for _, d := range devs {
			row := deviceRow{ID: d.ID, Kind: words.KindName("zh-CN", d.Kind), Place: d.Place}
			if d.ID == anxin.GatewayDevice {
				row.Kind, row.ID = "网关", "" // the household heads the rows; "gateway" is a pseudo-device
			}
			a, bad := open[key{h.ID, d.ID}]
			if !bad && d.ID == anxin.GatewayDevice {
				a, bad = open[key{h.ID, ""}] // gateway offline names no device
			}
			if bad {
				row.Problem, row.Since = book.What(&a, &h), whenOf(a.OpenedAt)
				r.Problems++
			}
			r.Devices = append(r.Devices, row)
		}
		if need && r.Problems == 0 {
			continue
		}
		rows = append(rows, r)
	}
	s.render(req, http.StatusOK, "devices.html", map[string]any{"Title": "设备健康", "Rows": rows, "Need": need})
	return nil
}
