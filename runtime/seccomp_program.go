//go:build libcontainer_seccomp_program

package runtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"syscall"

	"github.com/opencontainers/runc/libcontainer/configs"
	lcseccomp "github.com/opencontainers/runc/libcontainer/seccomp"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// The tag libcontainer_seccomp_program needs berth's patched libcontainer,
// which the Go workspace .cache/go.work (GOWORK) puts in place: make sets
// both up (scripts/patch-runc.sh). "undefined: lcseccomp.BerthPatched"
// here means the tag without the workspace: build with make, or set
// GOWORK=$PWD/.cache/go.work, or leave the tag out (upstream libcontainer;
// each container then compiles its profile in its init).
var _ = lcseccomp.BerthPatched

// SeccompPrecompiled reports whether this build compiles each distinct
// seccomp profile once and hands the program to the container's init
// (and to every exec'd process, through the container's state), instead
// of every init and exec'd process compiling the rules again. It needs
// libcontainer with patches/runc-*-seccomp-program.patch, which the
// Makefile's builds use (scripts/patch-runc.sh); other builds leave it off.
const SeccompPrecompiled = true

// attachSeccompProgram sets s.Program: from the runtime's cache if the same
// profile was compiled on this host by this binary before, else compiled
// now. The returned store saves a newly compiled program in the cache; the
// caller calls it once the container has started, so that a failed create
// leaves no file. If the profile cannot be compiled here, s.Program stays
// nil and the container's init compiles it, and fails, as it would without
// the cache.
func (r *Runtime) attachSeccompProgram(s *configs.Seccomp) (store func()) {
	noStore := func() {}
	if s == nil {
		return noStore
	}
	s.Program = nil
	rules, err := json.Marshal(s)
	if err != nil {
		logrus.WithError(err).Debug("seccomp program: profile not encodable; the init compiles it")
		return noStore
	}
	key := programKey(programHost(), rules)
	if data, ok := r.programs.get(key); ok {
		var p configs.SeccompProgram
		if err := json.Unmarshal(data, &p); err == nil && wholeProgram(&p) {
			s.Program = &p
			return noStore
		}
		// A file that is not a program is compiled again and replaced.
	}
	p, err := compileSeccomp(s)
	if err != nil {
		logrus.WithError(err).Debug("seccomp program: not compiled ahead; the init compiles the profile")
		return noStore
	}
	data, err := json.Marshal(p)
	if err != nil {
		logrus.WithError(err).Debug("seccomp program: not encodable; the init compiles the profile")
		return noStore
	}
	s.Program = p
	return func() {
		if err := r.programs.put(key, data); err != nil {
			logrus.WithError(err).Debug("seccomp program: not cached")
		}
	}
}

// compileSeccomp is libcontainer's compile (a variable for the tests).
var compileSeccomp = lcseccomp.Compile

// wholeProgram reports whether p holds a whole number of instructions.
func wholeProgram(p *configs.SeccompProgram) bool {
	return len(p.Filter) > 0 && len(p.Filter)%8 == 0
}

// programHost describes what, besides the profile, a compiled program
// depends on: libseccomp's version and API level (what the kernel
// supports), the kernel, and the binary that compiled it (libcontainer's
// patching of the filter). A program cached by another binary or before a
// reboot into another kernel is not found.
var programHost = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.WriteString("berth seccomp program 1\n")
	major, minor, micro := lcseccomp.Version()
	api, _ := libseccomp.GetAPI()
	fmt.Fprintf(&b, "libseccomp %d.%d.%d api %d\n", major, minor, micro, api)
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		fmt.Fprintf(&b, "kernel %s %s\n", unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Version[:]))
	}
	if fi, err := os.Stat("/proc/self/exe"); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&b, "binary %d:%d %d %d\n", st.Dev, st.Ino, st.Size, fi.ModTime().UnixNano())
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/opencontainers/runc" {
				fmt.Fprintf(&b, "runc %s %s %v\n", d.Version, d.Sum, d.Replace != nil)
			}
		}
	}
	return b.Bytes()
})
