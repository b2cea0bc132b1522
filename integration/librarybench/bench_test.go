// Package librarybench holds Go microbenchmarks of the library's hot
// paths (section 6 of `make bench`): loading and validating a spec,
// reading a container's state, and listing 100 containers.
package librarybench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-oci/berth/integration/busybox"
	"github.com/berth-oci/berth/internal/testutil"
	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

func init() { berth.Init() }

// bundle writes a busybox bundle with berth's default spec (default
// seccomp profile included) running args.
func bundle(b *testing.B, args ...string) string {
	b.Helper()
	dir := b.TempDir()
	if err := busybox.MakeBundle(dir, spec.WithArgs(args...)); err != nil {
		b.Fatal(err)
	}
	return dir
}

func BenchmarkSpecLoad(b *testing.B) {
	dir := bundle(b, "/bin/true")
	for b.Loop() {
		if _, err := spec.Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSpecDecode(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(bundle(b, "/bin/true"), "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := spec.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSpecValidate(b *testing.B) {
	dir := bundle(b, "/bin/true")
	s, err := spec.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := spec.Validate(s, dir); err != nil {
			b.Fatal(err)
		}
	}
}

// created makes n containers in the created state (init waiting for
// start) under a fresh root, deleted when the benchmark ends.
func created(b *testing.B, n int) *berth.Runtime {
	b.Helper()
	testutil.RequireRoot(b, "creates containers")
	rt, err := berth.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	dir := bundle(b, "sleep", "1000")
	ctx := context.Background()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	for i := range n {
		id := fmt.Sprintf("bench-%s-%d", b.Name(), i)
		c, err := rt.Create(ctx, id, berth.CreateOpts{Bundle: dir, IO: berth.IO{Stdin: devnull, Stdout: devnull, Stderr: devnull}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Delete(ctx, true) })
	}
	return rt
}

func BenchmarkState(b *testing.B) {
	rt := created(b, 1)
	id := fmt.Sprintf("bench-%s-0", b.Name())
	for b.Loop() {
		c, err := rt.Load(id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.State(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList100(b *testing.B) {
	rt := created(b, 100)
	for b.Loop() {
		states, err := rt.List()
		if err != nil {
			b.Fatal(err)
		}
		if len(states) != 100 {
			b.Fatalf("listed %d containers, want 100", len(states))
		}
	}
}
