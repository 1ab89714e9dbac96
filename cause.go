package anxin

import (
	"encoding/json"
	"time"
)

// CauseCode says what raised an alarm: one code per event and rule kind.
type CauseCode string

// Cause codes. Events keep their event name.
const (
	CauseButton         CauseCode = "button_pressed"
	CauseSmoke          CauseCode = "smoke"
	CauseGas            CauseCode = "gas"
	CauseWaterLeak      CauseCode = "water_leak"
	CauseFall           CauseCode = "fall"
	CauseTamper         CauseCode = "tamper"
	CauseLowBattery     CauseCode = "low_battery"
	CauseNoUse          CauseCode = "no_use"          // Field, Since, For
	CauseNoUseUnusual   CauseCode = "no_use_unusual"  // learned: Since, For, Share of days used by Usual
	CauseDeviceSilent   CauseCode = "device_silent"   // a device sent nothing: Since, For
	CauseRunning        CauseCode = "running"         // continuous: Field, Since, For
	CauseThreshold      CauseCode = "threshold"       // Field, Value, Limit, Above, Unit, For; Flag for booleans
	CauseDeviceOffline  CauseCode = "device_offline"  // the device's own status said offline: Since, For
	CauseGatewayOffline CauseCode = "gateway_offline" // the gateway's will: Since, For
	CauseHomeSilent     CauseCode = "home_silent"     // nothing from the home: Since, For
	CauseGeofence       CauseCode = "geofence"        // tracker outside Area by Metres: Since, For
)

// Cause is what raised an alarm, as data: what happened, on which kind of
// device, since when and for how long, with the amount where one matters.
// The words people read are written from it in one place (package words),
// in their language and time zone; a rule never writes a sentence for them.
type Cause struct {
	Code   CauseCode     `json:"code"`
	Device Kind          `json:"device,omitempty"` // kind of the device concerned
	Field  string        `json:"field,omitempty"`  // reading field (threshold, no_use, continuous)
	At     time.Time     `json:"at,omitzero"`      // when it happened (events, readings)
	Since  time.Time     `json:"since,omitzero"`   // the condition holds since
	For    time.Duration `json:"for,omitempty"`    // and has held this long when raised
	Value  float64       `json:"value,omitempty"`  // threshold: the reading
	Limit  float64       `json:"limit,omitempty"`  // threshold: the limit crossed
	Above  bool          `json:"above,omitempty"`  // threshold: above (else below) the limit
	Flag   bool          `json:"flag,omitempty"`   // threshold on a boolean field (battery_low)
	Unit   string        `json:"unit,omitempty"`   // threshold: unit from rules.yaml
	Metres float64       `json:"metres,omitempty"` // geofence: distance outside the area
	Area   string        `json:"area,omitempty"`   // geofence: the area's name from rules.yaml
	Share  float64       `json:"share,omitempty"`  // learned: share of days with use by Usual
	Usual  time.Time     `json:"usual,omitzero"`   // learned: by when use usually shows
}

// IsZero reports whether c says nothing (alarms stored before causes were).
func (c Cause) IsZero() bool { return c.Code == "" }

// EncodeCause is c as stored: JSON, or "" for no cause.
func EncodeCause(c Cause) string {
	if c.IsZero() {
		return ""
	}
	b, _ := json.Marshal(c) // cannot fail: plain fields
	return string(b)
}

// DecodeCause reads a stored cause; "" or bad JSON give the zero Cause (the
// words fall back to the alarm's rule).
func DecodeCause(s string) Cause {
	var c Cause
	if s != "" && json.Unmarshal([]byte(s), &c) != nil {
		return Cause{}
	}
	return c
}
