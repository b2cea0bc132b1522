package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/opencontainers/runc/types"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli"

	"github.com/berth-oci/berth/cgroups"
	berth "github.com/berth-oci/berth/runtime"
)

var eventsCommand = cli.Command{
	Name:  "events",
	Usage: "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
	ArgsUsage: `<container-id>

Where "<container-id>" is the name for the instance of the container.`,
	Description: `The events command displays information about the container. By default the
information is displayed once every 5 seconds.`,
	Flags: []cli.Flag{
		cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "set the stats collection interval"},
		cli.BoolFlag{Name: "stats", Usage: "display the container's stats then exit"},
	},
	Action: func(c *cli.Context) error {
		if err := checkArgs(c, 1, exactArgs); err != nil {
			return err
		}
		interval := c.Duration("interval")
		if interval <= 0 {
			return errors.New("--interval: duration must be greater than 0")
		}
		ctr, err := loadContainer(c)
		if err != nil {
			return err
		}
		st, err := ctr.State()
		if err != nil {
			return err
		}
		if st.Status == berth.Stopped {
			return fmt.Errorf("container with id %s is not running", ctr.ID())
		}
		enc := json.NewEncoder(os.Stdout)
		statsEvent := func() (*types.Event, error) {
			s, err := ctr.Stats()
			if err != nil {
				return nil, err
			}
			return &types.Event{Type: "stats", ID: ctr.ID(), Data: cgroups.EventStats(s)}, nil
		}
		if c.Bool("stats") {
			e, err := statsEvent()
			if err != nil {
				return err
			}
			return enc.Encode(e)
		}
		oom, err := ctr.WatchOOM()
		if err != nil {
			return err
		}
		reportOOM := func() error {
			return enc.Encode(&types.Event{Type: "oom", ID: ctr.ID()})
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		// Until the container stops or its cgroup goes away.
		for {
			select {
			case _, ok := <-oom.C:
				if !ok {
					return nil
				}
				if err := reportOOM(); err != nil {
					return err
				}
			case <-tick.C:
				// The OOM watch ending is how the stream usually ends; a
				// stopped or deleted container ends it too. An OOM kill
				// stops the container, and on cgroup v2 its notification
				// may trail the stop by a moment.
				if st, err := ctr.State(); err != nil || st.Status == berth.Stopped {
					oom.Finish(time.Second)
					for range oom.C {
						if err := reportOOM(); err != nil {
							return err
						}
					}
					return nil
				}
				e, err := statsEvent()
				if err != nil {
					logrus.Error(err)
					continue
				}
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
		}
	},
}
