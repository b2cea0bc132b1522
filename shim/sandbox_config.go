package shim

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
	// userns is set when the pod asks for a user namespace of its own.
	userns bool
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
	c := podConfig{sysctls: map[string]string{}}
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
						return eachField(v, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
							if num == 1 && typ == protowire.VarintType && namespaceMode(n) == modePod {
								c.userns = true
							}
							return nil
						})
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
