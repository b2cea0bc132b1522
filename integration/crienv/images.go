package crienv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/berth-oci/berth/integration/busybox"
)

// SandboxImage is the pause image the containerd of the lane pins.
const SandboxImage = "registry.k8s.io/pause:3.10.1"

// image is one image the suite pulls: a base of Debian's dynamic busybox,
// plus files, under one or more references (registry host stripped).
type image struct {
	refs       []string
	files      map[string]imageFile // path in the image -> content
	entrypoint []string
	cmd        []string
	user       string
	env        []string
	noBase     bool // only the files (the pause image)
}

// imageFile is a file of an image: a program built from testimages, or
// text.
type imageFile struct {
	program string // testimages/<program>
	text    string
	mode    os.FileMode
}

const (
	e2e  = "e2e-test-images/"
	cri  = "k8s-staging-cri-tools/"
	path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// nginx and httpd are the web server stand-in under the names the suite
// looks for.
var (
	nginx = map[string]imageFile{"usr/sbin/nginx": {program: "webserver", mode: 0o755}}
	httpd = map[string]imageFile{"usr/local/bin/httpd-foreground": {program: "webserver", mode: 0o755}}
)

// marker is the file cri-tools' image-test Dockerfile adds (ADD $TEST).
func marker(name string) map[string]imageFile {
	return map[string]imageFile{name: {text: name + "\n", mode: 0o644}}
}

// images are the images of cri-tools v1.34.0's validation suite (see its
// images/build script and pkg/validate/consts.go), for Linux on amd64.
var images = []image{
	{refs: []string{"pause:3.10.1"}, noBase: true, entrypoint: []string{"/pause"},
		files: map[string]imageFile{"pause": {program: "pause", mode: 0o755}}},
	{refs: []string{e2e + "busybox:1.29-2"}, cmd: []string{"sh"}},
	{refs: []string{e2e + "nginx:1.14-2"}, files: nginx, cmd: []string{"nginx", "-g", "daemon off;"}},
	{refs: []string{cri + "hostnet-nginx-amd64:latest"}, files: nginx, cmd: []string{"nginx", "-g", "daemon off;"},
		env: []string{"WEB_PORT=12003"}},
	{refs: []string{e2e + "httpd:2.4.39-4"}, files: httpd, cmd: []string{"httpd-foreground"}},
	{refs: []string{e2e + "nonewprivs:1.3"}, cmd: []string{"/usr/local/bin/nnp"},
		files: map[string]imageFile{"usr/local/bin/nnp": {program: "nonewprivs", mode: os.ModeSetuid | 0o755}}},
	{refs: []string{cri + "test-image-user-uid:latest"}, user: "1002"},
	{refs: []string{cri + "test-image-user-username:latest"}, user: "www-data"},
	{refs: []string{cri + "test-image-user-uid-group:latest"}, user: "1003:1004"},
	{refs: []string{cri + "test-image-user-username-group:latest"}, user: "www-data:1004"},
	{refs: []string{cri + "test-image-predefined-group:latest"}, user: "1000"},
	{refs: []string{cri + "test-image-1:latest"}, files: marker("test-image-1")},
	{refs: []string{cri + "test-image-2:latest"}, files: marker("test-image-2")},
	{refs: []string{cri + "test-image-3:latest"}, files: marker("test-image-3")},
	{refs: []string{cri + "test-image-latest:latest"}, files: marker("test-image-latest")},
	// Its upstream digest is pinned in the suite: no image built here
	// matches it, under any runtime.
	{refs: []string{cri + "test-image-digest:latest"}, files: marker("test-image-digest")},
	{refs: []string{cri + "test-image-tags:1", cri + "test-image-tags:2", cri + "test-image-tags:3"}, files: marker("same-image")},
	{refs: []string{cri + "test-image-tag:test"}, files: marker("test")},
	{refs: []string{cri + "test-image-tag:all"}, files: marker("all")},
}

// baseFiles are the /etc files and stand-ins every busybox image has.
var baseFiles = map[string]imageFile{
	"etc/passwd": {mode: 0o644, text: "root:x:0:0:root:/root:/bin/sh\n" +
		"www-data:x:33:33:www-data:/var/www:/bin/sh\n" +
		"default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
	"etc/group": {mode: 0o644, text: "root:x:0:\nwww-data:x:33:\ndefault-user:x:1000:\n" +
		"group-defined-in-image:x:50000:default-user\nnogroup:x:65534:\n"},
	// procps' pgrep and util-linux's ipcs, which Debian's busybox lacks.
	"usr/bin/pgrep": {mode: 0o755, text: `#!/bin/sh
# pgrep NAME: the pids of the processes called NAME (a stand-in for procps').
found=1
for d in /proc/[0-9]*; do
	if [ "$(cat "$d/comm" 2>/dev/null)" = "$1" ]; then echo "${d#/proc/}"; found=0; fi
done
exit $found
`},
	"usr/bin/ipcs": {mode: 0o755, text: `#!/bin/sh
# ipcs -m: the shared memory segments of this IPC namespace, a stand-in for
# util-linux's ipcs that prints the header and the segments' ids.
echo "------ Shared Memory Segments --------"
echo "key shmid owner perms bytes nattch status"
awk 'NR > 1 { print $1, $2, $8, $3, $4, $7 }' /proc/sysvipc/shm
`},
	// busybox's nmeter, which Debian's busybox lacks: the node e2e suite's
	// container lifecycle tests stamp their log lines with
	// date -u +%FT$(nmeter -d0 '%3t' | head -n1)Z.
	"usr/bin/nmeter": {mode: 0o755, text: `#!/bin/sh
# nmeter [-d0] '%3t': the time of day, HH:MM:SS.mmm in UTC, once (a
# stand-in for busybox's nmeter with only its time field; the clock read
# with busybox's adjtimex, which gives the microseconds).
adjtimex | awk '/tv_sec/ { s = $2 } /tv_usec/ { u = $2 } END { printf "%s.%03d\n", s, u / 1000 }' | {
	IFS=. read -r s ms
	echo "$(date -u -d "@$s" +%T).$ms"
}
`},
}

// BuildImages builds the suite's images with goBin and Debian's dynamic
// busybox (unpacked at busyboxRoot, with its libraries taken from this
// host) and pushes them to the registry at addr (host:port) with crane.
// With agnhost (a built k8s.io/kubernetes/test/images/agnhost), it builds
// the node e2e suite's images too.
func BuildImages(ctx context.Context, goBin, crane, busyboxRoot, work, addr, agnhost string) error {
	programs, err := buildPrograms(ctx, goBin, work)
	if err != nil {
		return err
	}
	list := images
	if agnhost != "" {
		programs["agnhost"] = agnhost
		programs["agnhost-crt"] = filepath.Join(filepath.Dir(agnhost), "localhost.crt")
		programs["agnhost-key"] = filepath.Join(filepath.Dir(agnhost), "localhost.key")
		list = append(append([]image(nil), images...), nodeE2EImages...)
	}
	base := filepath.Join(work, "base")
	if err := makeBase(busyboxRoot, base); err != nil {
		return err
	}
	baseLayer := filepath.Join(work, "base.tar")
	if err := writeLayer(base, baseLayer); err != nil {
		return err
	}
	empty := filepath.Join(work, "empty.tar")
	if err := writeLayer(mustMkdir(filepath.Join(work, "empty")), empty); err != nil {
		return err
	}
	baseRef := addr + "/berth/base:latest"
	if err := run(ctx, crane, "append", "--insecure", "--oci-empty-base", "-f", baseLayer, "-t", baseRef); err != nil {
		return err
	}
	for i, img := range list {
		layer := empty
		if len(img.files) > 0 {
			dir := filepath.Join(work, fmt.Sprintf("image%d", i))
			if err := writeFiles(dir, img.files, programs); err != nil {
				return err
			}
			layer = filepath.Join(work, fmt.Sprintf("image%d.tar", i))
			if err := writeLayer(dir, layer); err != nil {
				return err
			}
		}
		first := addr + "/" + img.refs[0]
		if img.noBase {
			if err := run(ctx, crane, "append", "--insecure", "--oci-empty-base", "-f", layer, "-t", first); err != nil {
				return err
			}
		}
		args := []string{"mutate", "--insecure", "-t", first}
		if img.noBase {
			args = append(args, first)
		} else {
			args = append(args, baseRef, "--append", layer, "-e", path)
		}
		for _, e := range img.env {
			args = append(args, "-e", e)
		}
		if len(img.entrypoint) > 0 {
			args = append(args, "--entrypoint", strings.Join(img.entrypoint, ","))
		}
		if len(img.cmd) > 0 {
			args = append(args, "--cmd", strings.Join(img.cmd, ","))
		}
		if img.user != "" {
			args = append(args, "--user", img.user)
		}
		if err := run(ctx, crane, args...); err != nil {
			return err
		}
		for _, ref := range img.refs[1:] {
			_, tag, _ := strings.Cut(ref, ":")
			if err := run(ctx, crane, "tag", "--insecure", first, tag); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildPrograms builds the static programs of testimages into work.
func buildPrograms(ctx context.Context, goBin, work string) (map[string]string, error) {
	src, err := testimagesDir()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range []string{"webserver", "pause", "nonewprivs"} {
		bin := filepath.Join(work, "bin", p)
		cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
		cmd.Dir = filepath.Join(src, p)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v: %s", p, err, out)
		}
		out[p] = bin
	}
	return out, nil
}

// testimagesDir finds testimages/ beside this package's source.
func testimagesDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; dir != "/"; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "integration", "crienv", "testimages")
		if _, err := os.Stat(cand); err == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("integration/crienv/testimages not found above %s", wd)
}

// makeBase makes the busybox root filesystem every image but pause has:
// Debian's dynamic busybox, its libraries, a link per applet, the base
// files and the directories the suite's images have.
func makeBase(busyboxRoot, dir string) error {
	bb := filepath.Join(busyboxRoot, "bin", "busybox")
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "root", "run", "var/run", "var/www", "home/default-user",
		"usr/bin", "usr/sbin", "usr/local/bin", "usr/share/nginx/html", "lib64", "lib/x86_64-linux-gnu"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o1777); err != nil {
		return err
	}
	if err := copyFile(bb, filepath.Join(dir, "bin", "busybox"), 0o755); err != nil {
		return fmt.Errorf("dynamic busybox: %w", err)
	}
	libs, err := sharedLibraries(bb)
	if err != nil {
		return err
	}
	for _, lib := range libs {
		if err := copyFile(lib, filepath.Join(dir, lib), 0o755); err != nil {
			return err
		}
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("%s --list: %w", bb, err)
	}
	// Hard links, as in the suite's busybox image: masking one applet
	// (MaskedPaths) must not mask busybox itself.
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Link(filepath.Join(dir, "bin", "busybox"), filepath.Join(dir, "bin", applet)); err != nil {
			return err
		}
	}
	return writeFiles(dir, baseFiles, nil)
}

// sharedLibraries lists the libraries bin loads, as ldd resolves them.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
			}
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s: no libraries (is it the dynamic busybox?)", bin)
	}
	return libs, nil
}

func writeFiles(dir string, files map[string]imageFile, programs map[string]string) error {
	for name, f := range files {
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		var err error
		if f.program != "" {
			err = copyFile(programs[f.program], dst, f.mode)
		} else {
			err = os.WriteFile(dst, []byte(f.text), f.mode.Perm())
		}
		if err != nil {
			return err
		}
		// WriteFile and umask drop setuid and group/other bits.
		if err := os.Chmod(dst, f.mode); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

func writeLayer(dir, path string) error {
	data, err := busybox.TarDir(dir)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func mustMkdir(dir string) string {
	_ = os.MkdirAll(dir, 0o755)
	return dir
}

func run(ctx context.Context, bin string, args ...string) error {
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return nil
}
