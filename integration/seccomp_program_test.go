package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-oci/berth/integration/hoststate"
	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/spec"
)

// programFiles lists the compiled seccomp programs cached under root.
func programFiles(t *testing.T, root string) []string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(root, hoststate.ProgramFilePrefix+"*"))
	return paths
}

// TestSeccompProgramCache: with precompiled seccomp programs (the
// Makefile's build), the first container of a profile caches its program
// under the state root, later ones load it from there, the program is in
// the container's state for exec, and the profile is enforced in the
// container and in an exec'd process, also after the cache file was
// damaged. A build on upstream libcontainer must enforce the same profile
// with no cache and no program in the state.
func TestSeccompProgramCache(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	script := `grep Seccomp: /proc/self/status | tr -d '\t'; unshare -U true 2>/dev/null && echo userns-allowed || echo userns-denied`
	want := "Seccomp:2\nuserns-denied"
	bundle := newBundle(t, spec.WithArgs("sh", "-c", script))
	runOnce := func(what string) {
		t.Helper()
		r := c.run(nil, "run", "--bundle", bundle, uniqueID(t))
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != want {
			t.Fatalf("%s: code %d stdout %q stderr %q, want %q", what, r.Code, r.Stdout, r.Stderr, want)
		}
	}
	wantFiles := 0
	if berth.SeccompPrecompiled {
		wantFiles = 1
	}

	runOnce("first run")
	files := programFiles(t, c.root)
	if len(files) != wantFiles {
		t.Fatalf("cached programs after the first run: %v, want %d", files, wantFiles)
	}
	if berth.SeccompPrecompiled {
		before, err := os.Stat(files[0])
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		runOnce("second run")
		after, err := os.Stat(files[0])
		if err != nil {
			t.Fatal(err)
		}
		if !after.ModTime().Equal(before.ModTime()) || len(programFiles(t, c.root)) != 1 {
			t.Fatalf("the second run of the profile wrote the cache again (mtime %v, then %v)", before.ModTime(), after.ModTime())
		}

		// A program the cache cannot use is compiled again and replaced.
		if err := os.WriteFile(files[0], []byte(`{"filter":"AAAA"}`), 0o600); err != nil {
			t.Fatal(err)
		}
		runOnce("run after the cache file was damaged")
		if data, _ := os.ReadFile(files[0]); string(data) == `{"filter":"AAAA"}` {
			t.Fatal("the damaged cache file was not replaced")
		}
	}

	// An exec'd process loads the program from the container's state.
	sleeper := newBundle(t, spec.WithArgs("sleep", "100"))
	id := uniqueID(t) + "-sleep"
	c.ok("run", "-d", "--bundle", sleeper, id)
	data, err := os.ReadFile(filepath.Join(c.root, id, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Config struct {
			Seccomp struct {
				Program *struct {
					Filter []byte `json:"filter"`
				} `json:"program"`
			} `json:"seccomp"`
		} `json:"config"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	p := st.Config.Seccomp.Program
	if berth.SeccompPrecompiled && (p == nil || len(p.Filter) == 0 || len(p.Filter)%8 != 0) {
		t.Fatalf("state.json has no whole program: %+v", p)
	}
	if !berth.SeccompPrecompiled && p != nil {
		t.Fatalf("a build on upstream libcontainer stored a program: %d bytes", len(p.Filter))
	}
	// A root shared with runc (Docker gives its runtimes one): runc's list
	// shows the running container and trips on nothing berth keeps there.
	runc := &cli{t: t, bin: runcBinary(t), root: c.root}
	if r := runc.run(nil, "list"); r.Code != 0 || strings.TrimSpace(r.Stderr) != "" || !strings.Contains(r.Stdout, id) {
		t.Fatalf("runc list on berth's root: code %d stdout %q stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	r := c.run(nil, "exec", id, "sh", "-c", script)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != want {
		t.Fatalf("exec: code %d stdout %q stderr %q, want %q", r.Code, r.Stdout, r.Stderr, want)
	}
	c.ok("delete", "-f", id)
	if files := programFiles(t, c.root); len(files) != wantFiles {
		t.Fatalf("cached programs for one profile: %v, want %d", files, wantFiles)
	}
	if out := c.ok("list", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("list shows %q", out)
	}
}
