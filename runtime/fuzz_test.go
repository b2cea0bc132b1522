package runtime

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzValidateID: no panic; an accepted id is one safe path component, a
// refused one is ErrInvalid.
func FuzzValidateID(f *testing.F) {
	for _, seed := range []string{"c1", "a.b-c_d+e", "", ".", "..", "../x", "a/b", strings.Repeat("x", MaxIDLength+1), "é", "a\x00b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateID(id)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: %v is not ErrInvalid", id, err)
			}
			return
		}
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") || len(id) > MaxIDLength {
			t.Fatalf("%q accepted", id)
		}
	})
}

// FuzzMergeResources feeds `berth update -r` resources JSON to the merge
// onto a container's resources: no panic, and the container's own device
// lists are never modified in place.
func FuzzMergeResources(f *testing.F) {
	for _, seed := range []string{`{}`, `{"memory": {"limit": 1048576, "swap": -1}}`, `{"cpu": {"idle": 1}}`,
		`{"blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 10}], "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 5}]}}`,
		`{"pids": {"limit": 10}, "unified": {"memory.high": "max"}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r specs.LinuxResources
		if json.Unmarshal(data, &r) != nil {
			return
		}
		dev := cgroups.NewWeightDevice(8, 0, 100, 0)
		thr := cgroups.NewThrottleDevice(8, 0, 1000)
		res := cgroups.Resources{BlkioWeightDevice: []*cgroups.WeightDevice{dev}, BlkioThrottleReadBpsDevice: []*cgroups.ThrottleDevice{thr}}
		mergeResources(&res, &r)
		if dev.Weight != 100 || thr.Rate != 1000 {
			t.Fatal("the container's own device entries were modified in place")
		}
	})
}
