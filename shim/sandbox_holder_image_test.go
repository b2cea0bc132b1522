package shim

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
)

// TestHolderProgram: the pod holder's program is a valid static ELF that
// runs, names itself berth-pod, waits, and dies by a signal.
func TestHolderProgram(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("the holder program is x86-64")
	}
	prog := holderProgram()
	f, err := elf.NewFile(bytes.NewReader(prog))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != elf.ET_EXEC || f.Machine != elf.EM_X86_64 || len(f.Progs) != 1 || f.Entry != 0x400000+120 {
		t.Fatalf("ELF: type %v, machine %v, %d segments, entry %#x", f.Type, f.Machine, len(f.Progs), f.Entry)
	}
	path := filepath.Join(t.TempDir(), "holder")
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var comm string
	for range 100 {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if comm = strings.TrimSpace(string(data)); comm == "berth-pod" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if comm != "berth-pod" {
		t.Fatalf("the holder program is named %q", comm)
	}
	time.Sleep(100 * time.Millisecond)
	if cmd.ProcessState != nil {
		t.Fatal("the holder program exited")
	}
	_ = cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Fatalf("the holder program ended with %v, want death by SIGINT", err)
	}
}
