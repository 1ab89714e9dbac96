package anxin

import (
	"context"
	"time"
)

// VisitMethod is how a visit was made.
type VisitMethod string

// Visit methods from the programme's record form.
const (
	VisitPhone            VisitMethod = "phone"
	VisitHome             VisitMethod = "home"
	VisitAudioVideo       VisitMethod = "audio_video"
	VisitRemoteMonitoring VisitMethod = "remote_monitoring"
	VisitOther            VisitMethod = "other"
)

// Valid reports whether m is a known method.
func (m VisitMethod) Valid() bool {
	switch m {
	case VisitPhone, VisitHome, VisitAudioVideo, VisitRemoteMonitoring, VisitOther:
		return true
	}
	return false
}

// Visit is one visit record, as on the programme's record form.
type Visit struct {
	ID            string      `json:"id"`
	Household     string      `json:"household"`
	Date          time.Time   `json:"date"`
	Method        VisitMethod `json:"method"`
	Health        string      `json:"health,omitempty"` // expression, mobility, illness, mood
	Safety        string      `json:"safety,omitempty"` // gas, water/heating, electricity
	Hygiene       string      `json:"hygiene,omitempty"`
	Environment   string      `json:"environment,omitempty"`
	Needs         string      `json:"needs,omitempty"`
	SuggestedCare string      `json:"suggested_care,omitempty"`
	Visitor       string      `json:"visitor,omitempty"`
	AlarmID       string      `json:"alarm_id,omitempty"` // set when the visit records an alarm's outcome
	FollowUpDue   time.Time   `json:"follow_up_due,omitzero"`
}

// Visits records visits. An alarm's outcome is recorded through it.
type Visits interface {
	CreateVisit(ctx context.Context, v *Visit) error // sets v.ID
}
