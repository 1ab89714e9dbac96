package rules

import "math"

// GCJ-02 is the datum Chinese maps (Amap, Tencent) publish coordinates in:
// WGS-84 with the published obfuscation offset of a few hundred metres.
// Outside mainland China (the usual bounding box) GCJ-02 equals WGS-84.

const (
	gcjA  = 6378245.0              // Krasovsky 1940 semi-major axis the transform uses
	gcjEE = 0.00669342162296594323 // its first eccentricity squared
)

// OutOfChina reports whether the point lies outside the box GCJ-02 applies to.
func OutOfChina(lat, lon float64) bool {
	return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271
}

// WGS84ToGCJ02 is the published forward transform.
func WGS84ToGCJ02(lat, lon float64) (float64, float64) {
	if OutOfChina(lat, lon) {
		return lat, lon
	}
	dLat, dLon := gcjDelta(lat, lon)
	return lat + dLat, lon + dLon
}

// GCJ02ToWGS84 inverts the transform by fixed-point iteration; the result
// maps forward to within 1e-9 degrees (millimetres) of the input.
func GCJ02ToWGS84(lat, lon float64) (float64, float64) {
	if OutOfChina(lat, lon) {
		return lat, lon
	}
	wLat, wLon := lat, lon
	for i := 0; i < 30; i++ {
		gLat, gLon := WGS84ToGCJ02(wLat, wLon)
		eLat, eLon := gLat-lat, gLon-lon
		wLat, wLon = wLat-eLat, wLon-eLon
		if math.Abs(eLat) < 1e-10 && math.Abs(eLon) < 1e-10 {
			break
		}
	}
	return wLat, wLon
}

func gcjDelta(lat, lon float64) (float64, float64) {
	x, y := lon-105, lat-35
	dLat := -100 + 2*x + 3*y + 0.2*y*y + 0.1*x*y + 0.2*math.Sqrt(math.Abs(x))
	dLat += (20*math.Sin(6*math.Pi*x) + 20*math.Sin(2*math.Pi*x)) * 2 / 3
	dLat += (20*math.Sin(math.Pi*y) + 40*math.Sin(math.Pi*y/3)) * 2 / 3
	dLat += (160*math.Sin(math.Pi*y/12) + 320*math.Sin(math.Pi*y/30)) * 2 / 3
	dLon := 300 + x + 2*y + 0.1*x*x + 0.1*x*y + 0.1*math.Sqrt(math.Abs(x))
	dLon += (20*math.Sin(6*math.Pi*x) + 20*math.Sin(2*math.Pi*x)) * 2 / 3
	dLon += (20*math.Sin(math.Pi*x) + 40*math.Sin(math.Pi*x/3)) * 2 / 3
	dLon += (150*math.Sin(math.Pi*x/12) + 300*math.Sin(math.Pi*x/30)) * 2 / 3
	rad := lat / 180 * math.Pi
	magic := math.Sin(rad)
	magic = 1 - gcjEE*magic*magic
	sq := math.Sqrt(magic)
	dLat = dLat * 180 / ((gcjA * (1 - gcjEE)) / (magic * sq) * math.Pi)
	dLon = dLon * 180 / (gcjA / sq * math.Cos(rad) * math.Pi)
	return dLat, dLon
}

// earthRadius is the mean Earth radius for distances, metres.
const earthRadius = 6371008.8

// Haversine is the great-circle distance in metres between two WGS-84 points.
func Haversine(lat1, lon1, lat2, lon2 float64) float64 {
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lon2-lon1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(a)))
}
