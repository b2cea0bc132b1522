package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONLogErrors: with --log and --log-format json, a failure is written
// as a logrus JSON entry with level "error", the entry containerd's go-runc
// reads, and still as one line on stderr.
func TestJSONLogErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	logPath := filepath.Join(t.TempDir(), "log.json")
	r := c.run(nil, "--log", logPath, "--log-format", "json", "kill", "ghost", "KILL")
	assertOneErrorLine(t, r, "ghost: container does not exist")
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var entry struct {
		Level string `json:"level"`
		Msg   string `json:"msg"`
		Time  string `json:"time"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &entry); err != nil {
		t.Fatalf("last log line %q: %v", lines[len(lines)-1], err)
	}
	if entry.Level != "error" || !strings.Contains(entry.Msg, "ghost: container does not exist") || entry.Time == "" {
		t.Fatalf("log entry %+v", entry)
	}
}
