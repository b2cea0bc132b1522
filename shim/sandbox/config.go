package sandbox

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// podConfig is what the pod sandbox needs of the CRI's PodSandboxConfig
// (k8s.io/cri-api runtime.v1), which containerd hands CreateSandbox as its
// options. It is decoded field by field rather than through cri-api's
// types: a handful of fields do not justify that dependency, and the
// field numbers are the protocol's, stable across CRI versions.
type podConfig struct {
	hostname string
	// dnsSet: the config has a DNS config (maybe empty); without one the
	// pod gets the host's resolv.conf, as under the CRI's own pods.
	dnsSet       bool
	dnsServers   []string
	dnsSearches  []string
	dnsOptions   []string
	cgroupParent string
	sysctls      map[string]string
	// The namespace modes of the pod: network, pid and ipc.
	network, pid, ipc namespaceMode
	// userns is set when the pod asks for a user namespace of its own
	// (userns_options present, of mode POD), with these mappings.
	userns         bool
	usernsMode     namespaceMode
	uidMap, gidMap []idMapping
}

// idMapping is one line of a user namespace's uid_map or gid_map (the
// CRI's IDMapping).
type idMapping struct {
	containerID, hostID, size uint32
}

// namespaceMode is the CRI's NamespaceMode.
type namespaceMode int

const (
	modePod       namespaceMode = 0
	modeContainer namespaceMode = 1
	modeNode      namespaceMode = 2
	modeTarget    namespaceMode = 3
)

// podConfigTypeURL is the Any type of the CRI's PodSandboxConfig.
const podConfigTypeURL = "runtime.v1.PodSandboxConfig"

// decodePodConfig decodes a PodSandboxConfig.
func decodePodConfig(b []byte) (podConfig, error) {
	// No userns_options: the host's user namespace, as mode NODE.
	c := podConfig{sysctls: map[string]string{}, usernsMode: modeNode}
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 2 && typ == protowire.BytesType:
			c.hostname = string(v)
		case num == 4 && typ == protowire.BytesType:
			c.dnsSet = true
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ != protowire.BytesType {
					return nil
				}
				switch num {
				case 1:
					c.dnsServers = append(c.dnsServers, string(v))
				case 2:
					c.dnsSearches = append(c.dnsSearches, string(v))
				case 3:
					c.dnsOptions = append(c.dnsOptions, string(v))
				}
				return nil
			})
		case num == 8 && typ == protowire.BytesType:
			return c.decodeLinux(v)
		}
		return nil
	})
	if err != nil {
		return podConfig{}, fmt.Errorf("pod sandbox config: %w", err)
	}
	return c, nil
}

// decodeLinux decodes a LinuxPodSandboxConfig.
func (c *podConfig) decodeLinux(b []byte) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			c.cgroupParent = string(v)
		case 2: // security_context
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != 1 || typ != protowire.BytesType { // namespace_options
					return nil
				}
				return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
					switch {
					case num == 1 && typ == protowire.VarintType:
						c.network = namespaceMode(n)
					case num == 2 && typ == protowire.VarintType:
						c.pid = namespaceMode(n)
					case num == 3 && typ == protowire.VarintType:
						c.ipc = namespaceMode(n)
					case num == 5 && typ == protowire.BytesType: // userns_options
						return c.decodeUserns(v)
					}
					return nil
				})
			})
		case 3: // sysctls: map entries of key 1, value 2
			var key, value string
			if err := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ == protowire.BytesType && num == 1 {
					key = string(v)
				} else if typ == protowire.BytesType && num == 2 {
					value = string(v)
				}
				return nil
			}); err != nil {
				return err
			}
			c.sysctls[key] = value
		}
		return nil
	})
}

// decodeUserns decodes a UserNamespace: its mode (1) and its uid (2) and
// gid (3) mappings.
func (c *podConfig) decodeUserns(b []byte) error {
	// The mode's default (absent from the wire) is POD: a UserNamespace
	// present asks for the pod's own, as containerd reads it.
	c.usernsMode = modePod
	var uids, gids []idMapping
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			c.usernsMode = namespaceMode(n)
		case (num == 2 || num == 3) && typ == protowire.BytesType:
			m, err := decodeIDMapping(v)
			if err != nil {
				return err
			}
			if num == 2 {
				uids = append(uids, m)
			} else {
				gids = append(gids, m)
			}
		}
		return nil
	})
	c.uidMap, c.gidMap = uids, gids
	c.userns = c.usernsMode == modePod
	return err
}

// usernsField names the pod config's user namespace options in errors.
const usernsField = "linux.security_context.namespace_options.userns_options"

// validateUserns checks the pod's user namespace options as the CRI
// checks a pause container's: mode NODE with no mappings, or POD with
// uid and gid mappings, which must map ID 0 (the pod's root, that the
// holder becomes); no other mode.
func (c podConfig) validateUserns() error {
	switch {
	case c.usernsMode == modeNode && (len(c.uidMap) > 0 || len(c.gidMap) > 0):
		return fmt.Errorf("%s: mode NODE takes no mappings (got %d uid and %d gid mappings)", usernsField, len(c.uidMap), len(c.gidMap))
	case c.usernsMode == modeNode:
		return nil
	case c.usernsMode != modePod:
		return fmt.Errorf("%s: unsupported mode %d (a pod's user namespace is POD or NODE)", usernsField, c.usernsMode)
	case len(c.uidMap) == 0 || len(c.gidMap) == 0:
		return fmt.Errorf("%s: mode POD needs uid and gid mappings (got %d and %d)", usernsField, len(c.uidMap), len(c.gidMap))
	case !mapsRoot(c.uidMap):
		return fmt.Errorf("%s: uids: container ID 0 is not mapped", usernsField)
	case !mapsRoot(c.gidMap):
		return fmt.Errorf("%s: gids: container ID 0 is not mapped", usernsField)
	}
	return nil
}

// mapsRoot reports whether one of the mappings maps container ID 0.
func mapsRoot(m []idMapping) bool {
	for _, l := range m {
		if l.containerID == 0 && l.size > 0 {
			return true
		}
	}
	return false
}

// decodeIDMapping decodes an IDMapping: host_id 1, container_id 2,
// length 3.
func decodeIDMapping(b []byte) (idMapping, error) {
	var m idMapping
	err := eachField(b, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
		if typ != protowire.VarintType {
			return nil
		}
		switch num {
		case 1:
			m.hostID = uint32(n)
		case 2:
			m.containerID = uint32(n)
		case 3:
			m.size = uint32(n)
		}
		return nil
	})
	return m, err
}

// eachField calls f with each field of a message: its number, its type,
// and its bytes (length-delimited fields) or value (varints).
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, bytes []byte, varint uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var bytes []byte
		var varint uint64
		switch typ {
		case protowire.BytesType:
			bytes, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			varint, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := f(num, typ, bytes, varint); err != nil {
			return err
		}
	}
	return nil
}
