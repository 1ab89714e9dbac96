package rules

import (
	"fmt"
	"math"

	"github.com/anxin-care/anxin"
)

// GeofenceParams are the keys of kind geofence: a tracker outside a circle
// (Center, RadiusM) or a polygon for For. Coordinates are in Datum: wgs84,
// or gcj02 for points picked on Chinese maps (converted to WGS-84, which
// trackers report, when the rule loads). The home area differs per elder:
// set it per household under overrides.household.
type GeofenceParams struct {
	Datum   string   `yaml:"datum"` // wgs84 (default) | gcj02
	Center  *Point   `yaml:"center"`
	RadiusM float64  `yaml:"radius_m"`
	Polygon []Point  `yaml:"polygon"`
	For     Duration `yaml:"for"`
	Area    string   `yaml:"area"` // "the home area": words in reasons
}

// Point is a latitude and longitude in decimal degrees.
type Point struct {
	Lat float64 `yaml:"lat"`
	Lon float64 `yaml:"lon"`
}

func (p Point) valid() bool { return p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180 }

func init() {
	registerKind("geofence", kindDef{
		params: func() any { return &GeofenceParams{} },
		check: func(r *Rule) error {
			p := r.Params.(*GeofenceParams)
			if p.Datum == "" {
				p.Datum = "wgs84"
			}
			if p.Datum != "wgs84" && p.Datum != "gcj02" {
				return oneOf("datum", clip(p.Datum), fmt.Sprintf("%q is not wgs84 or gcj02", clip(p.Datum)), "wgs84", "gcj02")
			}
			switch {
			case p.Center != nil && p.Polygon != nil:
				return clash("center", "set a center and radius_m or a polygon, not both", "polygon")
			case p.Center != nil:
				if !p.Center.valid() {
					return because("center", reasonLatLon, "", "", "not a latitude/longitude")
				}
				if !(p.RadiusM > 0 && p.RadiusM <= 1e6) {
					return outside("radius_m", p.RadiusM, "0 < radius_m ≤ 1000000（米）", "must be above 0 (metres)")
				}
			case p.Polygon != nil:
				if len(p.Polygon) < 3 {
					return because("polygon", reasonPolygonPoints, "", "", "needs at least 3 points")
				}
				for i, q := range p.Polygon {
					if !q.valid() {
						return because(fmt.Sprintf("polygon[%d]", i), reasonLatLon, "", "", "not a latitude/longitude")
					}
				}
				if p.RadiusM != 0 {
					return clash("radius_m", "goes with center, not polygon", "polygon")
				}
			default:
				return absent("center", "set a center and radius_m, or a polygon", "center + radius_m", "polygon")
			}
			if p.For < 0 {
				return outside("for", p.For, ">= 0s", "must not be negative")
			}
			if p.Area == "" {
				p.Area = "the home area"
			}
			return nil
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*GeofenceParams)
			g := &geofence{p: *p, forSec: p.For.Seconds()}
			conv := func(q Point) Point {
				if p.Datum == "gcj02" {
					q.Lat, q.Lon = GCJ02ToWGS84(q.Lat, q.Lon)
				}
				return q
			}
			if p.Center != nil {
				c := conv(*p.Center)
				g.center = &c
			}
			for _, q := range p.Polygon {
				g.poly = append(g.poly, conv(q))
			}
			return g
		},
	})
}

// geofence slot: t0 outside since (0: inside), v1 metres outside at the
// last fix, t1 last fix.
type geofence struct {
	p      GeofenceParams
	forSec int64
	center *Point  // WGS-84
	poly   []Point // WGS-84
}

func (r *geofence) match(m *anxin.Message) bool {
	_, a := m.Fields["lat"]
	_, b := m.Fields["lon"]
	return a && b && !m.IsEvent()
}

// Outside is how far (metres) a WGS-84 point lies outside the area; 0 inside.
func (r *geofence) Outside(lat, lon float64) float64 {
	if r.center != nil {
		return math.Max(0, Haversine(r.center.Lat, r.center.Lon, lat, lon)-r.p.RadiusM)
	}
	return outsidePolygon(r.poly, lat, lon)
}

// outsidePolygon: 0 inside (even-odd rule), else the distance to the
// nearest edge on a local flat projection (fine at city scale).
func outsidePolygon(poly []Point, lat, lon float64) float64 {
	kx := math.Cos(lat*math.Pi/180) * earthRadius * math.Pi / 180
	ky := earthRadius * math.Pi / 180
	inside := false
	best := math.Inf(1)
	for i := range poly {
		a, b := poly[i], poly[(i+1)%len(poly)]
		if (a.Lat > lat) != (b.Lat > lat) && lon < (b.Lon-a.Lon)*(lat-a.Lat)/(b.Lat-a.Lat)+a.Lon {
			inside = !inside
		}
		ax, ay := (a.Lon-lon)*kx, (a.Lat-lat)*ky
		bx, by := (b.Lon-lon)*kx, (b.Lat-lat)*ky
		dx, dy := bx-ax, by-ay
		t := 0.0
		if l := dx*dx + dy*dy; l > 0 {
			t = math.Max(0, math.Min(1, -(ax*dx+ay*dy)/l))
		}
		best = math.Min(best, math.Hypot(ax+t*dx, ay+t*dy))
	}
	if inside {
		return 0
	}
	return best
}

func (r *geofence) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if q, ok := m.Fields["fix_quality"]; ok && q.Float() == 0 {
		return // no fix: the position means nothing
	}
	if s.t1 != 0 && t < s.t1 {
		return
	}
	lat, lon := m.Fields["lat"].Float(), m.Fields["lon"].Float()
	if !(Point{lat, lon}).valid() {
		return
	}
	d := r.Outside(lat, lon)
	s.v1, s.t1 = d, t
	if d == 0 {
		s.t0 = 0
		x.clear(s, fOpen, func() string { return fmt.Sprintf("The tracker is back in %s (%s)", r.p.Area, x.clock(t)) })
		return
	}
	if s.t0 == 0 {
		s.t0 = t
	}
	r.tick(x, s)
}

func (r *geofence) tick(x *evalCtx, s *slot) {
	if s.t0 == 0 || x.now-s.t0 < r.forSec {
		return
	}
	x.raise(s, fOpen, func() string {
		return fmt.Sprintf("tracker %s outside %s for %s (since %s)", distance(s.v1), r.p.Area, span(x.now-s.t0), x.clock(s.t0))
	}, func() anxin.Cause {
		return anxin.Cause{Code: anxin.CauseGeofence, Metres: s.v1, Area: r.p.Area, Since: causeTime(s.t0), For: x.lasted(s.t0)}
	})
}

func (r *geofence) deadline(x *evalCtx, s *slot) int64 {
	if s.t0 == 0 || s.flags&(fOpen|fMute1) != 0 {
		return 0
	}
	return x.windowed(s.t0 + r.forSec)
}
