package runtime

import (
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/intelrdt"
)

// IntelRdtUpdate is what an update changes of a container's Intel RDT
// configuration (runc update --l3-cache-schema and --mem-bw-schema): each
// schema it sets replaces the container's; an empty one is kept.
type IntelRdtUpdate struct {
	// L3CacheSchema is the RDT/CAT L3 cache schema, "L3:<id>=<mask>;...".
	L3CacheSchema string
	// MemBwSchema is the RDT/MBA memory bandwidth schema, "MB:<id>=<bw>;...".
	MemBwSchema string
}

func (u IntelRdtUpdate) empty() bool { return u.L3CacheSchema == "" && u.MemBwSchema == "" }

// intelRdtHost is what the host's Intel RDT enables.
type intelRdtHost struct{ cat, mba bool }

// hostIntelRdt reads what this host's RDT enables (resctrl's info).
func hostIntelRdt() intelRdtHost {
	return intelRdtHost{cat: intelrdt.IsCATEnabled(), mba: intelrdt.IsMBAEnabled()}
}

// apply returns a copy of the container's RDT configuration cur with u's
// schemata set, or runc's refusal, in runc's words: a schema the host does
// not enable, or a container created without RDT.
func (u IntelRdtUpdate) apply(cur *configs.IntelRdt, host intelRdtHost) (*configs.IntelRdt, error) {
	if u.L3CacheSchema != "" && !host.cat {
		return nil, errorf(ErrNotSupported, "Intel RDT/CAT: l3 cache schema is not enabled")
	}
	if u.MemBwSchema != "" && !host.mba {
		return nil, errorf(ErrNotSupported, "Intel RDT/MBA: memory bandwidth schema is not enabled")
	}
	if cur == nil {
		return nil, errorf(ErrInvalid, "updating a non-existent Intel RDT configuration is not supported")
	}
	updated := *cur
	if u.L3CacheSchema != "" {
		updated.L3CacheSchema = u.L3CacheSchema
	}
	if u.MemBwSchema != "" {
		updated.MemBwSchema = u.MemBwSchema
	}
	return &updated, nil
}
