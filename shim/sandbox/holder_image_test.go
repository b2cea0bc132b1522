package sandbox

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

// TestHolderProgramSource: holderCode is what testdata/holder_program.S
// assembles to, so the bytes the holder runs are the source's.
func TestHolderProgramSource(t *testing.T) {
	as, err := exec.LookPath("as")
	if err != nil {
		t.Fatalf("no assembler on PATH (binutils, which gcc and so make setup-base install): %v", err)
	}
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "holder.o"), filepath.Join(dir, "holder.bin")
	if out, err := exec.Command(as, "--64", "-o", obj, "testdata/holder_program.S").CombinedOutput(); err != nil {
		t.Fatalf("as: %v: %s", err, out)
	}
	if out, err := exec.Command("objcopy", "-O", "binary", "-j", ".text", obj, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v: %s", err, out)
	}
	want, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(holderCode, want) {
		t.Fatalf("holderCode is\n% x\nthe source assembles to\n% x", holderCode, want)
	}
	if n := len(holderProgram()); n != 158 {
		t.Fatalf("the holder program is %d bytes, want 158", n)
	}
}
