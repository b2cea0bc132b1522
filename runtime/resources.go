package runtime

import (
	berthcgroups "github.com/berth-oci/berth/cgroups"
	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Pause freezes every process of a running container.
func (c *Container) Pause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.lc.Pause(); err != nil {
		return opError("pause", c.ID(), classify(err))
	}
	return nil
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.lc.Resume(); err != nil {
		return opError("resume", c.ID(), classify(err))
	}
	return nil
}

// Processes returns the host pids of every process in the container.
func (c *Container) Processes() ([]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids, err := c.lc.Processes()
	if err != nil {
		return nil, opError("processes of", c.ID(), classify(err))
	}
	return pids, nil
}

// Stats returns the container's cgroup statistics.
func (c *Container) Stats() (*cgroups.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lc.Stats()
	if err != nil {
		return nil, opError("stats of", c.ID(), classify(err))
	}
	return st.CgroupStats, nil
}

// OOM returns a channel that receives a value each time the kernel's OOM
// killer acts in the container, and is closed when the cgroup goes away.
// Drain it: libcontainer's sender blocks otherwise.
func (c *Container) OOM() (<-chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, err := c.lc.NotifyOOM()
	if err != nil {
		return nil, opError("oom notifications of", c.ID(), classify(err))
	}
	return ch, nil
}

// OOMKillCount returns how many processes the kernel's OOM killer has
// killed in the container's cgroup. It is authoritative where OOM
// notifications can be missed (cgroup v2 coalesces memory.events changes,
// and the container's exit can overtake them).
func (c *Container) OOMKillCount() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.lc.State()
	if err != nil {
		return 0, opError("oom kill count of", c.ID(), classify(err))
	}
	cfg := c.lc.Config()
	m, err := manager.NewWithPaths(cfg.Cgroups, st.CgroupPaths)
	if err != nil {
		return 0, opError("oom kill count of", c.ID(), err)
	}
	n, err := m.OOMKillCount()
	if err != nil {
		return 0, opError("oom kill count of", c.ID(), err)
	}
	return n, nil
}

// MemoryEvents returns the counters of the container's cgroup v2
// memory.events (which libcontainer's statistics do not carry). On a
// cgroup v1 host it fails with ErrNotSupported.
func (c *Container) MemoryEvents() (berthcgroups.MemoryEvents, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !cgroups.IsCgroup2UnifiedMode() {
		return berthcgroups.MemoryEvents{}, errorf(ErrNotSupported, "memory events of %s: the host has no cgroup v2 memory controller", c.ID())
	}
	st, err := c.lc.State()
	if err != nil {
		return berthcgroups.MemoryEvents{}, opError("memory events of", c.ID(), classify(err))
	}
	ev, err := berthcgroups.ReadMemoryEvents(st.CgroupPaths[""])
	if err != nil {
		return berthcgroups.MemoryEvents{}, opError("memory events of", c.ID(), err)
	}
	return ev, nil
}

// Update changes the container's resource limits. Only the fields set in r
// change; the others keep their values.
func (c *Container) Update(r *specs.LinuxResources) error {
	return c.UpdateWithIntelRdt(r, IntelRdtUpdate{})
}

// UpdateWithIntelRdt is Update, and changes the Intel RDT schemata that rdt
// sets, as runc's update does with --l3-cache-schema and --mem-bw-schema.
// Nothing changes when the host's RDT lacks what rdt sets (ErrNotSupported)
// or the container was created without RDT (ErrInvalid).
func (c *Container) UpdateWithIntelRdt(r *specs.LinuxResources, rdt IntelRdtUpdate) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r == nil {
		return errorf(ErrInvalid, "update %s: resources must be given", c.ID())
	}
	cfg := c.lc.Config()
	if cfg.Cgroups == nil || cfg.Cgroups.Resources == nil {
		return errorf(ErrWrongState, "update %s: container has no cgroup configuration", c.ID())
	}
	res := *cfg.Cgroups.Resources
	mergeResources(&res, r)
	cg := *cfg.Cgroups
	cg.Resources = &res
	// Device rules are not updatable (as in runc): leave them untouched.
	res.SkipDevices = true
	cfg.Cgroups = &cg
	if !rdt.empty() {
		updated, err := rdt.apply(cfg.IntelRdt, hostIntelRdt())
		if err != nil {
			return opError("update", c.ID(), err)
		}
		cfg.IntelRdt = updated
	}
	if err := c.lc.Set(cfg); err != nil {
		return opError("update", c.ID(), classify(err))
	}
	// libcontainer keeps the config it was given in memory and refuses to
	// start a process (an exec) in a container whose config has
	// SkipDevices. runc's update never meets that, since the CLI exits;
	// a shim or a library user that keeps this Container does. The config
	// libcontainer now holds points at res, and SkipDevices is not saved in
	// state.json, so clearing it here leaves what a fresh Load would see.
	res.SkipDevices = false
	if c.lc.Config().Cgroups.Resources.SkipDevices {
		return errorf(ErrWrongState, "update %s: applied, but the container keeps SkipDevices set and could not exec", c.ID())
	}
	return nil
}

// mergeResources copies the fields that r sets into res.
func mergeResources(res *cgroups.Resources, r *specs.LinuxResources) {
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit == -1 && m.Swap == nil {
			// Unlimited memory takes unlimited memory+swap with it (v1).
			res.MemorySwap = 0
		}
		setIf(&res.Memory, m.Limit)
		setIf(&res.MemoryReservation, m.Reservation)
		setIf(&res.MemorySwap, m.Swap)
		setIf(&res.MemoryCheckBeforeUpdate, m.CheckBeforeUpdate)
	}
	if cpu := r.CPU; cpu != nil {
		switch {
		case cpu.Shares != nil:
			res.CpuShares = *cpu.Shares
			res.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(*cpu.Shares)
		case cpu.Idle != nil:
			// As runc: with idle and no shares, shares are not written
			// (the kernel refuses them while cpu.idle is 1).
			res.CpuShares, res.CpuWeight = 0, 0
		}
		setIf(&res.CpuQuota, cpu.Quota)
		setIf(&res.CpuPeriod, cpu.Period)
		setIf(&res.CpuRtRuntime, cpu.RealtimeRuntime)
		setIf(&res.CpuRtPeriod, cpu.RealtimePeriod)
		if cpu.Burst != nil {
			res.CpuBurst = cpu.Burst
		}
		if cpu.Idle != nil {
			res.CPUIdle = cpu.Idle
		}
		if cpu.Cpus != "" {
			res.CpusetCpus = cpu.Cpus
		}
		if cpu.Mems != "" {
			res.CpusetMems = cpu.Mems
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		res.PidsLimit = p.Limit
	}
	if b := r.BlockIO; b != nil {
		setIf(&res.BlkioWeight, b.Weight)
		setIf(&res.BlkioLeafWeight, b.LeafWeight)
		res.BlkioWeightDevice = mergeWeightDevices(res.BlkioWeightDevice, b.WeightDevice)
		res.BlkioThrottleReadBpsDevice = mergeThrottleDevices(res.BlkioThrottleReadBpsDevice, b.ThrottleReadBpsDevice)
		res.BlkioThrottleWriteBpsDevice = mergeThrottleDevices(res.BlkioThrottleWriteBpsDevice, b.ThrottleWriteBpsDevice)
		res.BlkioThrottleReadIOPSDevice = mergeThrottleDevices(res.BlkioThrottleReadIOPSDevice, b.ThrottleReadIOPSDevice)
		res.BlkioThrottleWriteIOPSDevice = mergeThrottleDevices(res.BlkioThrottleWriteIOPSDevice, b.ThrottleWriteIOPSDevice)
	}
	if len(r.Unified) > 0 {
		res.Unified = r.Unified
	}
}

func setIf[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// mergeWeightDevices returns have with each device of update changed in
// place (the weights update sets) or added, as runc's update does. have is
// not modified: it belongs to the container's current configuration.
func mergeWeightDevices(have []*cgroups.WeightDevice, update []specs.LinuxWeightDevice) []*cgroups.WeightDevice {
	if len(update) == 0 {
		return have
	}
	out := make([]*cgroups.WeightDevice, len(have))
	for i, d := range have {
		c := *d
		out[i] = &c
	}
	for _, u := range update {
		i := lastDevice(out, u.Major, u.Minor, func(d *cgroups.WeightDevice) (int64, int64) { return d.Major, d.Minor })
		if i < 0 {
			out = append(out, cgroups.NewWeightDevice(u.Major, u.Minor, 0, 0))
			i = len(out) - 1
		}
		setIf(&out[i].Weight, u.Weight)
		setIf(&out[i].LeafWeight, u.LeafWeight)
	}
	return out
}

// mergeThrottleDevices is mergeWeightDevices for a throttle list: a
// device's rate is replaced, or the device added.
func mergeThrottleDevices(have []*cgroups.ThrottleDevice, update []specs.LinuxThrottleDevice) []*cgroups.ThrottleDevice {
	if len(update) == 0 {
		return have
	}
	out := make([]*cgroups.ThrottleDevice, len(have))
	for i, d := range have {
		c := *d
		out[i] = &c
	}
	for _, u := range update {
		if i := lastDevice(out, u.Major, u.Minor, func(d *cgroups.ThrottleDevice) (int64, int64) { return d.Major, d.Minor }); i >= 0 {
			out[i].Rate = u.Rate
		} else {
			out = append(out, cgroups.NewThrottleDevice(u.Major, u.Minor, u.Rate))
		}
	}
	return out
}

// lastDevice returns the index of the last entry for major:minor (the one
// the kernel ends up with), or -1.
func lastDevice[T any](devs []T, major, minor int64, id func(T) (int64, int64)) int {
	for i := len(devs) - 1; i >= 0; i-- {
		if ma, mi := id(devs[i]); ma == major && mi == minor {
			return i
		}
	}
	return -1
}
