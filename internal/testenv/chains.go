package testenv

import (
	"context"
	"fmt"

	"github.com/anxin-care/anxin"
)

// ManyHouseholds makes household hh-N with a child and a grid worker whose
// numbers end in N, so each alarm's first SMS can be told apart (load and
// latency tests of the chain).
type ManyHouseholds struct{}

// Household is hh-N's.
func (ManyHouseholds) Household(_ context.Context, id string) (anxin.Household, error) {
	var n int
	if _, err := fmt.Sscanf(id, "hh-%d", &n); err != nil {
		return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "no household %s", id)
	}
	return anxin.Household{ID: id, Elder: anxin.Elder{Name: "张桂兰"},
		Contacts:  []anxin.Contact{{Name: "李明", Relation: "child", Phone: fmt.Sprintf("+86139%08d", n)}},
		Community: []anxin.Contact{{Name: "王芳", Role: "grid_worker", Phone: fmt.Sprintf("+86137%08d", n)}},
	}, nil
}
