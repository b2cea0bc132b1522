package runtime

import (
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

// Update changes the container's resource limits. Only the fields set in r
// change; the others keep their values.
func (c *Container) Update(r *specs.LinuxResources) error {
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
	if err := c.lc.Set(cfg); err != nil {
		return opError("update", c.ID(), classify(err))
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
		if cpu.Shares != nil {
			res.CpuShares = *cpu.Shares
			res.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(*cpu.Shares)
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
