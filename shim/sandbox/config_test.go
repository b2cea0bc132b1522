package sandbox

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// appendMessage appends field num holding a message built by build.
func appendMessage(b []byte, num protowire.Number, build func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, build(nil))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// TestDecodePodConfig decodes a PodSandboxConfig as the CRI sends it
// (field numbers of k8s.io/cri-api runtime.v1), with fields it skips
// (metadata, labels, port mappings, overhead) around the ones it reads.
func TestDecodePodConfig(t *testing.T) {
	var b []byte
	b = appendMessage(b, 1, func(m []byte) []byte { return appendString(m, 1, "pod-name") }) // metadata
	b = appendString(b, 2, "lane-pod")
	b = appendString(b, 3, "/var/log/pods/x")
	b = appendMessage(b, 4, func(m []byte) []byte {
		m = appendString(m, 1, "10.0.0.10")
		m = appendString(m, 1, "10.0.0.11")
		m = appendString(m, 2, "lane.local")
		return appendString(m, 3, "ndots:2")
	})
	b = appendMessage(b, 5, func(m []byte) []byte { return appendVarint(m, 2, 80) }) // a port mapping
	b = appendMessage(b, 6, func(m []byte) []byte { return appendString(appendString(m, 1, "k"), 2, "v") })
	b = appendMessage(b, 8, func(m []byte) []byte {
		m = appendString(m, 1, "/kubepods/pod1")
		m = appendMessage(m, 2, func(sc []byte) []byte {
			sc = appendMessage(sc, 1, func(ns []byte) []byte {
				ns = appendVarint(ns, 1, uint64(modeNode))
				ns = appendVarint(ns, 2, uint64(modePod))
				ns = appendVarint(ns, 3, uint64(modeNode))
				// userns_options: mode POD, the default, is not on the
				// wire, as the CRI's encoder leaves it out.
				return appendMessage(ns, 5, func(u []byte) []byte {
					u = appendMessage(u, 2, func(m []byte) []byte { return appendVarint(appendVarint(appendVarint(m, 1, 65536), 2, 0), 3, 65536) })
					return appendMessage(u, 3, func(m []byte) []byte { return appendVarint(appendVarint(m, 1, 131072), 3, 1000) })
				})
			})
			return appendVarint(sc, 6, 1) // privileged
		})
		m = appendMessage(m, 3, func(e []byte) []byte { return appendString(appendString(e, 1, "kernel.shm_rmid_forced"), 2, "1") })
		m = appendMessage(m, 3, func(e []byte) []byte { return appendString(appendString(e, 1, "net.ipv4.ip_forward"), 2, "0") })
		return appendMessage(m, 4, func(o []byte) []byte { return appendVarint(o, 1, 100) }) // overhead
	})
	got, err := decodePodConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	want := podConfig{
		hostname: "lane-pod", dnsSet: true,
		dnsServers: []string{"10.0.0.10", "10.0.0.11"}, dnsSearches: []string{"lane.local"}, dnsOptions: []string{"ndots:2"},
		cgroupParent: "/kubepods/pod1",
		sysctls:      map[string]string{"kernel.shm_rmid_forced": "1", "net.ipv4.ip_forward": "0"},
		network:      modeNode, pid: modePod, ipc: modeNode, userns: true, usernsMode: modePod,
		uidMap: []idMapping{{containerID: 0, hostID: 65536, size: 65536}},
		gidMap: []idMapping{{containerID: 0, hostID: 131072, size: 1000}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
	if got := resolvConf(got); got != "search lane.local\nnameserver 10.0.0.10\nnameserver 10.0.0.11\noptions ndots:2\n" {
		t.Errorf("resolv.conf %q", got)
	}
	// The defaults: an empty config is a pod of its own namespaces, with
	// no DNS config (the host's resolv.conf).
	empty, err := decodePodConfig(nil)
	if err != nil || empty.dnsSet || empty.network != modePod || empty.pid != modePod || empty.ipc != modePod {
		t.Errorf("empty config: %+v, %v", empty, err)
	}
	// A user namespace of the host's (mode NODE) is no user namespace.
	var node []byte
	node = appendMessage(node, 8, func(m []byte) []byte {
		return appendMessage(m, 2, func(sc []byte) []byte {
			return appendMessage(sc, 1, func(ns []byte) []byte {
				return appendMessage(ns, 5, func(u []byte) []byte { return appendVarint(u, 1, uint64(modeNode)) })
			})
		})
	})
	if c, err := decodePodConfig(node); err != nil || c.userns {
		t.Errorf("userns mode NODE: userns %v, %v", c.userns, err)
	}
	if _, err := decodePodConfig([]byte{0x12, 0x05, 'a'}); err == nil {
		t.Error("a truncated config decoded without error")
	}
}

func TestSysctlPath(t *testing.T) {
	for name, want := range map[string]string{
		"kernel.shm_rmid_forced":            "/proc/sys/kernel/shm_rmid_forced",
		"net/ipv4/conf/eth0.100/forwarding": "/proc/sys/net/ipv4/conf/eth0.100/forwarding",
	} {
		if got := sysctlPath(name); got != want {
			t.Errorf("sysctlPath(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestValidateUserns: the pod user namespace options the CRI refuses for
// a pause container are refused, naming the field; the rest pass.
func TestValidateUserns(t *testing.T) {
	root := []idMapping{{containerID: 0, hostID: 65536, size: 65536}}
	for _, tc := range []struct {
		name string
		c    podConfig
		want string // "" for valid
	}{
		{"none", podConfig{usernsMode: modeNode}, ""},
		{"pod", podConfig{usernsMode: modePod, uidMap: root, gidMap: root}, ""},
		{"node with mappings", podConfig{usernsMode: modeNode, uidMap: root}, "mode NODE takes no mappings"},
		{"container", podConfig{usernsMode: modeContainer, uidMap: root, gidMap: root}, "unsupported mode 1"},
		{"target", podConfig{usernsMode: modeTarget}, "unsupported mode 3"},
		{"pod without gids", podConfig{usernsMode: modePod, uidMap: root}, "needs uid and gid mappings"},
		{"root unmapped", podConfig{usernsMode: modePod, uidMap: []idMapping{{containerID: 1, hostID: 65536, size: 65536}}, gidMap: root}, "uids: container ID 0 is not mapped"},
		{"root gid unmapped", podConfig{usernsMode: modePod, uidMap: root, gidMap: []idMapping{{containerID: 0, hostID: 1, size: 0}}}, "gids: container ID 0 is not mapped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.validateUserns()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), usernsField) {
				t.Fatalf("got %v, want an error naming %s: %s", err, usernsField, tc.want)
			}
		})
	}
}
