package hoststate

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// iptablesTables are the tables CNI's bridge, portmap and firewall
// plugins change.
var iptablesTables = []string{"filter", "nat", "mangle"}

// Network is the host's network state that a lane's CNI plugins change:
// the iptables tables and IPv4 forwarding.
type Network struct {
	ipForward []byte
	iptables  map[string][]byte
}

// SaveNetwork records the host's network state, for Restore.
func SaveNetwork() (*Network, error) {
	n := &Network{iptables: map[string][]byte{}}
	var err error
	if n.ipForward, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err != nil {
		return nil, err
	}
	for _, t := range iptablesTables {
		out, err := exec.Command("iptables-save", "-t", t).Output()
		if err != nil {
			return nil, fmt.Errorf("iptables-save -t %s: %w", t, err)
		}
		n.iptables[t] = out
	}
	return n, nil
}

// Restore puts the iptables tables and IPv4 forwarding back as they were
// saved.
func (n *Network) Restore() error {
	var errs []error
	for t, saved := range n.iptables {
		cmd := exec.Command("iptables-restore", "-T", t)
		cmd.Stdin = strings.NewReader(string(saved))
		if out, err := cmd.CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("iptables-restore -T %s: %v: %s", t, err, out))
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", n.ipForward, 0o644); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
