package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadMemoryEvents(t *testing.T) {
	tests := []struct {
		name, content string
		want          MemoryEvents
		err           string
	}{
		{"all keys", "low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\n", MemoryEvents{1, 2, 3, 4, 5}, ""},
		{"newer keys ignored", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 1\nsock_throttled 0\n", MemoryEvents{Max: 7, OOM: 2, OOMKill: 1}, ""},
		{"bad value", "oom_kill x\n", MemoryEvents{}, "oom_kill"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadMemoryEvents(dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := ReadMemoryEvents(t.TempDir()); err == nil {
		t.Fatal("no error for a directory without memory.events")
	}
}
