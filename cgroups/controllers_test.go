package cgroups

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRequired(t *testing.T) {
	limit, shares, classID := int64(1), uint64(2), uint32(3)
	r := &specs.LinuxResources{
		Memory:         &specs.LinuxMemory{Limit: &limit},
		CPU:            &specs.LinuxCPU{Shares: &shares, Cpus: "0"},
		Pids:           &specs.LinuxPids{Limit: &limit},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}},
		Network:        &specs.LinuxNetwork{ClassID: &classID},
	}
	var got []string
	for _, req := range required(r) {
		got = append(got, req.controller)
	}
	if strings.Join(got, ",") != "memory,cpu,cpuset,pids,hugetlb,net_cls" {
		t.Fatalf("controllers %v", got)
	}
	if len(required(nil)) != 0 || len(required(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false}}})) != 0 {
		t.Fatal("no limits should need no controller")
	}
}

// TestCheckResources runs on the host: memory and pids exist everywhere
// berth runs; hugetlb is missing on the project's v1 hybrid machines.
func TestCheckResources(t *testing.T) {
	limit := int64(1 << 20)
	if err := CheckResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, Pids: &specs.LinuxPids{Limit: &limit}}); err != nil {
		t.Fatalf("memory and pids: %v", err)
	}
	if HostMode() != Hybrid {
		t.Skip("the hugetlb case is for v1 hybrid hosts")
	}
	err := CheckResources(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.hugepageLimits: this host has no cgroup v1 hugetlb hierarchy") {
		t.Fatalf("hugetlb: %v", err)
	}
}
