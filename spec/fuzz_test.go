package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeValidate feeds config.json contents to Decode and Validate:
// neither may panic, and every rejection matches ErrInvalid and says where
// (a field, or a line and column).
func FuzzDecodeValidate(f *testing.F) {
	def, err := json.Marshal(New())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{def, []byte(`{}`), []byte(`{"ociVersion": "1.2.0", "process": {"args": "sh"}}`),
		[]byte(`{"process": {"args": ["sh"], "cwd": "/", "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 2}]}}`),
		[]byte(`{"linux": {"namespaces": [{"type": "bogus"}]}}`), []byte("{\n oops\n}"), []byte(`[]`), []byte(`null`)} {
		f.Add(seed)
	}
	bundle := f.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if err := Validate(s, bundle); err != nil {
			checkRejection(t, err)
		}
	})
}

func checkRejection(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("rejection %q does not match ErrInvalid", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) && !strings.Contains(err.Error(), "line") && !strings.Contains(err.Error(), "not a valid spec") {
		t.Fatalf("rejection %q names no field and no position", err)
	}
	if fe != nil && fe.Field == "" {
		t.Fatalf("rejection %q has an empty field", err)
	}
}
