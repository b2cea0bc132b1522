package task

import (
	berth "github.com/berth-oci/berth/runtime"
)

// runtimeKey tells apart the runtimes of one daemon: a state root and a
// cgroup driver.
type runtimeKey struct {
	root          string
	systemdCgroup bool
}

// runtimeFor returns the daemon's runtime for a state root and cgroup
// driver, made on first use and shared by every task that uses them.
func (s *Service) runtimeFor(root string, systemdCgroup bool) (*berth.Runtime, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := runtimeKey{root: root, systemdCgroup: systemdCgroup}
	if rt := s.runtimes[key]; rt != nil {
		return rt, nil
	}
	rt, err := berth.New(root, berth.WithSystemdCgroup(systemdCgroup))
	if err != nil {
		return nil, err
	}
	s.runtimes[key] = rt
	return rt, nil
}
