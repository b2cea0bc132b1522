package runtime

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
)

// TestIntelRdtUpdateApply: the schemata an update sets replace the
// container's, others are kept, and what runc refuses is refused in its
// words, with the kind an errors.Is can test.
func TestIntelRdtUpdateApply(t *testing.T) {
	cur := &configs.IntelRdt{ClosID: "c1", L3CacheSchema: "L3:0=f", MemBwSchema: "MB:0=100"}
	both := intelRdtHost{cat: true, mba: true}
	tests := []struct {
		name     string
		u        IntelRdtUpdate
		cur      *configs.IntelRdt
		host     intelRdtHost
		want     *configs.IntelRdt
		wantErr  string
		wantKind error
	}{
		{"l3 only", IntelRdtUpdate{L3CacheSchema: "L3:0=3"}, cur, both,
			&configs.IntelRdt{ClosID: "c1", L3CacheSchema: "L3:0=3", MemBwSchema: "MB:0=100"}, "", nil},
		{"mem bw only", IntelRdtUpdate{MemBwSchema: "MB:0=50"}, cur, both,
			&configs.IntelRdt{ClosID: "c1", L3CacheSchema: "L3:0=f", MemBwSchema: "MB:0=50"}, "", nil},
		{"no CAT on the host", IntelRdtUpdate{L3CacheSchema: "L3:0=3"}, cur, intelRdtHost{mba: true},
			nil, "Intel RDT/CAT: l3 cache schema is not enabled", ErrNotSupported},
		{"no MBA on the host", IntelRdtUpdate{MemBwSchema: "MB:0=50"}, cur, intelRdtHost{cat: true},
			nil, "Intel RDT/MBA: memory bandwidth schema is not enabled", ErrNotSupported},
		{"no RDT in the container", IntelRdtUpdate{L3CacheSchema: "L3:0=3"}, nil, both,
			nil, "updating a non-existent Intel RDT configuration is not supported", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.u.apply(tt.cur, tt.host)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, tt.wantKind) {
					t.Fatalf("error %v, want %q (%v)", err, tt.wantErr, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, *tt.want)
			}
			if cur.L3CacheSchema != "L3:0=f" || cur.MemBwSchema != "MB:0=100" {
				t.Errorf("apply changed the container's configuration: %+v", *cur)
			}
		})
	}
}
