package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	berth "github.com/berth-oci/berth/runtime"
	units "github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"
)

var updateCommand = cli.Command{
	Name:      "update",
	Usage:     "update container resource constraints",
	ArgsUsage: `<container-id>`,
	Description: `The update command changes the resource limits of a running container: from
the flags, or from a JSON file of OCI LinuxResources with -r (- for stdin),
and its Intel RDT schemata (--l3-cache-schema, --mem-bw-schema), where the
host's RDT enables them and the container was created with RDT. Only what
is given changes.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "resources, r", Usage: `path to the file containing the resources to update or '-' to read from the standard input`},
		cli.IntFlag{Name: "blkio-weight", Usage: "Specifies per cgroup weight, range is from 10 to 1000"},
		cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default"},
		cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period"},
		cli.StringFlag{Name: "cpu-burst", Usage: "CPU CFS hardcap burst limit (in usecs). Allowed accumulated cpu time additionally for burst a given period"},
		cli.StringFlag{Name: "cpu-share", Usage: "CPU shares (relative weight vs. other containers)"},
		cli.StringFlag{Name: "cpu-rt-period", Usage: "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default"},
		cli.StringFlag{Name: "cpu-rt-runtime", Usage: "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period"},
		cli.StringFlag{Name: "cpuset-cpus", Usage: "CPU(s) to use"},
		cli.StringFlag{Name: "cpuset-mems", Usage: "Memory node(s) to use"},
		cli.StringFlag{Name: "kernel-memory", Usage: "(obsoleted; do not use)", Hidden: true},
		cli.StringFlag{Name: "kernel-memory-tcp", Usage: "(obsoleted; do not use)", Hidden: true},
		cli.StringFlag{Name: "memory", Usage: "Memory limit (in bytes)"},
		cli.StringFlag{Name: "cpu-idle", Usage: "set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE"},
		cli.StringFlag{Name: "memory-reservation", Usage: "Memory reservation or soft_limit (in bytes)"},
		cli.StringFlag{Name: "memory-swap", Usage: "Total memory usage (memory + swap); set '-1' to enable unlimited swap"},
		cli.IntFlag{Name: "pids-limit", Usage: "Maximum number of pids allowed in the container"},
		cli.StringFlag{Name: "l3-cache-schema", Usage: "The string of Intel RDT/CAT L3 cache schema"},
		cli.StringFlag{Name: "mem-bw-schema", Usage: "The string of Intel RDT/MBA memory bandwidth schema"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, exactArgs); err != nil {
			return err
		}
		r, err := updateResources(c)
		if err != nil {
			return err
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		return ctr.UpdateWithIntelRdt(r, berth.IntelRdtUpdate{
			L3CacheSchema: c.String("l3-cache-schema"),
			MemBwSchema:   c.String("mem-bw-schema"),
		})
	},
}

// updateResources reads -r, or builds resources from the flags.
func updateResources(c *cli.Context) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if in := c.String("resources"); in != "" {
		var src io.Reader = os.Stdin
		if in != "-" {
			f, err := os.Open(in)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			src = f
		}
		if err := json.NewDecoder(src).Decode(r); err != nil {
			return nil, fmt.Errorf("--resources %s: not OCI LinuxResources in JSON: %w", in, err)
		}
		return r, nil
	}
	cpu := &specs.LinuxCPU{Cpus: c.String("cpuset-cpus"), Mems: c.String("cpuset-mems")}
	mem := &specs.LinuxMemory{}
	for _, f := range []struct {
		flag string
		dst  **uint64
	}{
		{"cpu-burst", &cpu.Burst}, {"cpu-period", &cpu.Period}, {"cpu-rt-period", &cpu.RealtimePeriod}, {"cpu-share", &cpu.Shares},
	} {
		if v := c.String(f.flag); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("--%s: %q is not a non-negative integer", f.flag, v)
			}
			*f.dst = &n
		}
	}
	for _, f := range []struct {
		flag string
		dst  **int64
	}{
		{"cpu-quota", &cpu.Quota}, {"cpu-rt-runtime", &cpu.RealtimeRuntime}, {"cpu-idle", &cpu.Idle},
	} {
		if v := c.String(f.flag); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("--%s: %q is not an integer", f.flag, v)
			}
			*f.dst = &n
		}
	}
	for _, f := range []struct {
		flag string
		dst  **int64
	}{
		{"memory", &mem.Limit}, {"memory-swap", &mem.Swap}, {"memory-reservation", &mem.Reservation},
	} {
		if v := c.String(f.flag); v != "" {
			n := int64(-1)
			if v != "-1" {
				var err error
				if n, err = units.RAMInBytes(v); err != nil {
					return nil, fmt.Errorf("--%s: %q is not a size (e.g. 512m, 2g or -1)", f.flag, v)
				}
			}
			*f.dst = &n
		}
	}
	if c.String("kernel-memory") != "" || c.String("kernel-memory-tcp") != "" {
		logrus.Warn("Kernel memory settings are ignored and will be removed")
	}
	r.CPU, r.Memory = cpu, mem
	if c.IsSet("blkio-weight") {
		w := c.Int("blkio-weight")
		if w < 0 || w > 1000 {
			return nil, fmt.Errorf("--blkio-weight: %d is out of range (10 to 1000)", w)
		}
		weight := uint16(w)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &weight}
	}
	if c.IsSet("pids-limit") {
		limit := int64(c.Int("pids-limit"))
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return r, nil
}
