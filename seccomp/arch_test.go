package seccomp

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	goruntime "runtime"
	"slices"
	"testing"
)

func TestRunnableArchitectures(t *testing.T) {
	all := []string{"amd64", "x86", "x32"}
	got := RunnableArchitectures(all)
	if !slices.Equal(all, []string{"amd64", "x86", "x32"}) {
		t.Fatalf("input modified: %v", all)
	}
	want := all
	if !x32Runnable() {
		want = []string{"amd64", "x86"}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("RunnableArchitectures(%v) = %v, want %v (x32 runnable: %v)", all, got, want, x32Runnable())
	}
	if got := RunnableArchitectures([]string{"amd64", "x86"}); !slices.Equal(got, []string{"amd64", "x86"}) {
		t.Fatalf("without x32: %v", got)
	}
}

// TestX32ProbeMatchesKernelConfig checks the probe against the kernel's
// own configuration where the kernel publishes it.
func TestX32ProbeMatchesKernelConfig(t *testing.T) {
	if goruntime.GOARCH != "amd64" {
		t.Skip("x32 exists only on amd64")
	}
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		t.Skipf("kernel config not published: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if underSeccomp() {
		t.Skip("the test process runs under seccomp; the probe keeps x32")
	}
	compiled := bytes.Contains(cfg, []byte("\nCONFIG_X86_X32_ABI=y\n"))
	if !compiled && x32Runnable() {
		t.Fatal("probe says x32 runs, but the kernel is built without CONFIG_X86_X32_ABI")
	}
	if compiled {
		t.Logf("kernel has CONFIG_X86_X32_ABI; probe says runnable=%v (it may be disabled at boot)", x32Runnable())
	}
}
