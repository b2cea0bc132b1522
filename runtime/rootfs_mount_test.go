package runtime

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSplitIDMapping(t *testing.T) {
	two := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 65536}, {ContainerID: 65536, HostID: 200000, Size: 10}}
	tests := []struct {
		name    string
		in      []string
		want    idMapping
		rest    []string
		wantErr bool
	}{
		{"none", []string{"ro", "lowerdir=/a:/b"}, idMapping{}, []string{"ro", "lowerdir=/a:/b"}, false},
		{"both", []string{"uidmap=0:1000:65536,65536:200000:10", "lowerdir=/a", "gidmap=0:1000:65536,65536:200000:10"},
			idMapping{uids: two, gids: two}, []string{"lowerdir=/a"}, false},
		{"uid only", []string{"uidmap=0:1000:65536"}, idMapping{}, nil, true},
		{"not three fields", []string{"uidmap=0:1000", "gidmap=0:1000:1"}, idMapping{}, nil, true},
		{"not a number", []string{"uidmap=0:x:1", "gidmap=0:1000:1"}, idMapping{}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rest, err := splitIDMapping(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if !reflect.DeepEqual(m, tc.want) || !reflect.DeepEqual(rest, tc.rest) {
				t.Errorf("got %+v %v, want %+v %v", m, rest, tc.want, tc.rest)
			}
		})
	}
}

func TestParseMountOptions(t *testing.T) {
	flags, data := parseMountOptions([]string{"rbind", "ro", "nosuid", "lowerdir=/a", "upperdir=/b"})
	if data != "lowerdir=/a,upperdir=/b" || flags == 0 {
		t.Fatalf("flags %x data %q", flags, data)
	}
	if f, _ := parseMountOptions([]string{"ro", "rw"}); f != 0 {
		t.Fatalf("rw after ro left flags %x", f)
	}
}
