package drivers

import (
	"testing"

	"github.com/anxin-care/anxin"
)

func TestNotKindListsTheContractsKinds(t *testing.T) {
	if e := NotKind("kind", "lamp"); e.Kind != ValueNotChoice || e.Value != "lamp" || len(e.Choices) != len(anxin.Kinds) {
		t.Errorf("NotKind: %#v", e)
	}
}
