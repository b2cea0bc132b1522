package seccomp

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// seedProfiles are the real profiles in testdata and small edge cases.
func seedProfiles(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, rp := range realProfiles {
		data, err := os.ReadFile(filepath.Join("testdata", rp.file))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	def, err := json.Marshal(DefaultProfile(nil))
	if err != nil {
		f.Fatal(err)
	}
	return append(seeds, def, []byte(`{}`), []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [""], "action": "SCMP_ACT_ALLOW"}]}`),
		[]byte(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "op": "SCMP_CMP_EQ"}]}]}`),
		[]byte(`{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}], "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8", "caps": ["CAP_SYS_ADMIN"]}}]}`))
}

// checkRejection: every rejection matches ErrInvalid and names a field
// of linux.seccomp (or says the JSON is not valid).
func checkRejection(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("rejection %q does not match ErrInvalid", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) && !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("rejection %q names no field", err)
	}
}

// FuzzValidate feeds OCI profiles to Validate and Unknown: no panic, and a
// rejection names its field.
func FuzzValidate(f *testing.F) {
	for _, s := range seedProfiles(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p specs.LinuxSeccomp
		if json.Unmarshal(data, &p) != nil {
			return
		}
		if err := Validate(&p); err != nil {
			checkRejection(t, err)
		}
		_ = Unknown(&p)
	})
}

// FuzzLoadDockerProfile feeds Docker-format profiles to LoadDockerProfile.
func FuzzLoadDockerProfile(f *testing.F) {
	for _, s := range seedProfiles(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := LoadDockerProfile(data, []string{"CAP_KILL", "CAP_SYS_ADMIN"}); err != nil {
			checkRejection(t, err)
		}
	})
}
