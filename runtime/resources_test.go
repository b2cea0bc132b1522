package runtime

import (
	"testing"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMergeResources(t *testing.T) {
	pids := int64(10)
	res := cgroups.Resources{Memory: 100, CpuShares: 1024, CpuQuota: 5000, CpuPeriod: 100000, PidsLimit: &pids, CpusetCpus: "0"}
	mem, quota, shares, newPids := int64(200), int64(7000), uint64(512), int64(20)
	weight := uint16(300)
	mergeResources(&res, &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &mem},
		CPU:     &specs.LinuxCPU{Quota: &quota, Shares: &shares},
		Pids:    &specs.LinuxPids{Limit: &newPids},
		BlockIO: &specs.LinuxBlockIO{Weight: &weight},
	})
	switch {
	case res.Memory != 200:
		t.Errorf("memory %d", res.Memory)
	case res.CpuQuota != 7000 || res.CpuPeriod != 100000:
		t.Errorf("quota/period %d/%d", res.CpuQuota, res.CpuPeriod)
	case res.CpuShares != 512 || res.CpuWeight == 0:
		t.Errorf("shares %d weight %d", res.CpuShares, res.CpuWeight)
	case *res.PidsLimit != 20:
		t.Errorf("pids %d", *res.PidsLimit)
	case res.CpusetCpus != "0":
		t.Errorf("cpuset changed to %q", res.CpusetCpus)
	case res.BlkioWeight != 300:
		t.Errorf("blkio weight %d", res.BlkioWeight)
	}
	before := res
	mergeResources(&res, &specs.LinuxResources{})
	if res.Memory != before.Memory || res.CpuQuota != before.CpuQuota || res.PidsLimit != before.PidsLimit {
		t.Error("empty update changed resources")
	}
}

func TestMergeResourcesRuncRules(t *testing.T) {
	u16 := func(v uint16) *uint16 { return &v }
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	base := func() cgroups.Resources {
		return cgroups.Resources{
			CpuShares:         1024,
			CpuWeight:         39,
			BlkioWeightDevice: []*cgroups.WeightDevice{cgroups.NewWeightDevice(8, 0, 100, 0)},
			BlkioThrottleReadBpsDevice: []*cgroups.ThrottleDevice{
				cgroups.NewThrottleDevice(8, 0, 1000), cgroups.NewThrottleDevice(8, 16, 2000),
			},
		}
	}
	tests := []struct {
		name  string
		r     specs.LinuxResources
		check func(t *testing.T, res cgroups.Resources)
	}{
		{"idle without shares does not write shares", specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(1)}},
			func(t *testing.T, res cgroups.Resources) {
				if res.CpuShares != 0 || res.CpuWeight != 0 || res.CPUIdle == nil || *res.CPUIdle != 1 {
					t.Errorf("shares %d weight %d idle %v", res.CpuShares, res.CpuWeight, res.CPUIdle)
				}
			}},
		{"idle with shares writes both", specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(0), Shares: u64(512)}},
			func(t *testing.T, res cgroups.Resources) {
				if res.CpuShares != 512 || *res.CPUIdle != 0 {
					t.Errorf("shares %d idle %v", res.CpuShares, *res.CPUIdle)
				}
			}},
		{"weight device updated in place", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16(500)}}}},
			func(t *testing.T, res cgroups.Resources) {
				if len(res.BlkioWeightDevice) != 1 || res.BlkioWeightDevice[0].Weight != 500 {
					t.Errorf("weight devices %+v", res.BlkioWeightDevice)
				}
			}},
		{"weight device added", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 32}, LeafWeight: u16(50)}}}},
			func(t *testing.T, res cgroups.Resources) {
				if len(res.BlkioWeightDevice) != 2 || res.BlkioWeightDevice[1].Minor != 32 || res.BlkioWeightDevice[1].LeafWeight != 50 {
					t.Errorf("weight devices %+v", res.BlkioWeightDevice)
				}
			}},
		{"throttle devices merged per list", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 3000}},
			ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 4000}},
			ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 10}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 20}},
		}},
			func(t *testing.T, res cgroups.Resources) {
				rb := res.BlkioThrottleReadBpsDevice
				if len(rb) != 2 || rb[0].Rate != 1000 || rb[1].Rate != 3000 {
					t.Errorf("read bps %v %v", rb[0], rb[1])
				}
				for name, l := range map[string][]*cgroups.ThrottleDevice{
					"write bps": res.BlkioThrottleWriteBpsDevice, "read iops": res.BlkioThrottleReadIOPSDevice, "write iops": res.BlkioThrottleWriteIOPSDevice,
				} {
					if len(l) != 1 {
						t.Errorf("%s: %v", name, l)
					}
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := base()
			orig := res.BlkioWeightDevice[0]
			origThrottle := res.BlkioThrottleReadBpsDevice[1]
			mergeResources(&res, &tc.r)
			tc.check(t, res)
			if orig.Weight != 100 || origThrottle.Rate != 2000 {
				t.Error("the current configuration's devices were modified in place")
			}
		})
	}
}
