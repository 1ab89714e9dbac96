package main

import (
	"bytes"
	"fmt"
	"math"
	"strings"
)

// plot draws median delay against false alarms per household-day, one
// panel per dataset, as a hand-written SVG (no plotting dependency).
func plot(sets []*dataset) []byte {
	const w, h = 900, 400
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	panel(&b, 0, "DAIAD (92 households)", sets[0], sets[1])
	panel(&b, 450, "AMPds2 (1 house, 2 years)", sets[2], sets[3])
	b.WriteString("</svg>\n")
	return b.Bytes()
}

const (
	minX, maxX = 0.001, 3.0 // false alarms per household-day, log scale
	maxY       = 30.0       // median delay, hours
)

func panel(b *bytes.Buffer, x0 int, title string, ten, three *dataset) {
	const left, top, pw, ph = 55, 35, 370, 300
	ox := float64(x0 + left)
	sx := func(f float64) float64 {
		f = math.Max(minX, math.Min(maxX, f))
		return ox + pw*(math.Log10(f)-math.Log10(minX))/(math.Log10(maxX)-math.Log10(minX))
	}
	sy := func(d float64) float64 { return top + ph*(1-math.Min(d, maxY)/maxY) }
	fmt.Fprintf(b, `<text x="%.0f" y="20" font-size="13" font-weight="bold">%s</text>`+"\n", ox, title)
	// goal region
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d9f2d9"/>`+"\n", sx(minX), sy(goalDelayH), sx(goalFalse)-sx(minX), sy(0)-sy(goalDelayH))
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#2a7a2a">goal</text>`+"\n", sx(minX)+4, sy(goalDelayH)+12)
	// axes and grid
	for _, f := range []float64{0.001, 0.01, 0.1, 1} {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%g</text>`+"\n", sx(f), top, sx(f), top+ph, sx(f), top+ph+14, f)
	}
	for d := 0.0; d <= maxY; d += 6 {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%g h</text>`+"\n", ox, sy(d), ox+pw, sy(d), ox-4, sy(d)+4, d)
	}
	fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", ox, top, pw, ph)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">false alarms per household-day (log)</text>`+"\n", ox+pw/2, top+ph+30)
	fmt.Fprintf(b, `<text x="%d" y="%d" transform="rotate(-90 %d %d)" text-anchor="middle">median delay</text>`+"\n", x0+14, top+ph/2, x0+14, top+ph/2)
	// Wilhelm & Wahl 2024: mean 5 h 23 min at 0.09 false alarms per day.
	fmt.Fprintf(b, `<path d="M%.1f %.1f l4 -8 l4 8 l-8 -5 h8 z" fill="#b05"/><text x="%.1f" y="%.1f" fill="#b05">W&amp;W 2024 (mean)</text>`+"\n", sx(0.09)-4, sy(5.383)+3, sx(0.09)+7, sy(5.383)+4)
	series(b, sx, sy, ten, false, "#555", "", "fixed")
	series(b, sx, sy, ten, true, "#1f5fbf", "", "learned")
	series(b, sx, sy, three, false, "#999", "5,4", "")
	series(b, sx, sy, three, true, "#7fa8e8", "5,4", "")
	// legend
	ly := float64(top + 12)
	for _, l := range []struct{ c, dash, text string }{
		{"#555", "", "fixed no_use, 10 l = use"}, {"#1f5fbf", "", "learned, 10 l = use"},
		{"#999", "5,4", "fixed, 3 l = use"}, {"#7fa8e8", "5,4", "learned, 3 l = use"}} {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			ox+pw-150, ly, ox+pw-130, ly, l.c, l.dash, ox+pw-126, ly+4, l.text)
		ly += 14
	}
}

func series(b *bytes.Buffer, sx, sy func(float64) float64, d *dataset, learned bool, color, dash, label string) {
	var pts []string
	for _, p := range points(d) {
		if p.learned != learned || math.IsNaN(p.delay) {
			continue
		}
		x, y := sx(p.false_), sy(p.delay)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		if learned {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x, y, color)
		} else {
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="6" height="6" fill="%s"/>`+"\n", x-3, y-3, color)
		}
		if label != "" {
			name := strings.TrimPrefix(strings.TrimPrefix(p.rule, "no_water_"), "learned_")
			name = strings.ReplaceAll(name, "_", ".")
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="9" fill="%s">%s</text>`+"\n", x+5, y-4, color, name)
		}
	}
	if len(pts) > 1 {
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="%s"/>`+"\n", strings.Join(pts, " "), color, dash)
	}
}
