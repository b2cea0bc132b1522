package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-oci/berth/internal/testutil"
	berth "github.com/berth-oci/berth/runtime"
	"github.com/berth-oci/berth/shim/internal/mainthread"
)

// TestPodHolderUserns starts pod holders with a pod user namespace, as
// the daemon does (a reaper, clones from a thread that lives on), in a
// child process of the test binary, and checks what containers joining
// /proc/<holder>/ns/* would get:
//   - made by the holder (a network namespace of the host's): the
//     mappings asked for, the IPC, UTS and pid namespaces owned by it, the
//     holder the init of its pid namespace, the hostname and an IPC sysctl
//     set in them;
//   - joined (a network namespace made in a user namespace, as
//     containerd 2.3's CRI makes it): that user namespace, whatever was
//     asked;
//   - mappings the kernel refuses: an error naming the step, and no
//     process left.
func TestPodHolderUserns(t *testing.T) {
	testutil.RequireRoot(t, "clones pod holders in new namespaces")
	if os.Getenv("BERTH_TEST_POD_HOLDER") == "1" {
		if err := podHolderUsernsChecks(); err != nil {
			fmt.Println("FAIL:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPodHolderUserns$")
	cmd.Env = append(os.Environ(), "BERTH_TEST_POD_HOLDER=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("checks: %v", err)
	}
}

// podHolderUsernsChecks runs in the child: its reaper lasts for the
// process.
func podHolderUsernsChecks() error {
	if err := berth.StartReaper(); err != nil {
		return err
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		goruntime.LockOSThread() // stands for the daemon's main thread
		mainthread.Serve(stop)
	}()
	mapping := []idMapping{{containerID: 0, hostID: 200000, size: 65536}}

	// A user namespace of the holder's making.
	exited := make(chan berth.ExitStatus, 1)
	pid, err := startPodHolder(podHolderSpec{
		newPID: true, newIPC: true, newUTS: true, hostname: "holder-userns",
		sysctls: map[string]string{"kernel.shm_rmid_forced": "1"},
		uidMap:  mapping, gidMap: mapping,
	}, func(es berth.ExitStatus) { exited <- es })
	if err != nil {
		return fmt.Errorf("start a holder making its user namespace: %w", err)
	}
	if err := checkMadeUserns(pid); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return err
	}
	if err := killHolder(pid, exited); err != nil {
		return err
	}
	fmt.Println("made: mappings, owned namespaces, pid 1, hostname and sysctl: ok")

	// A user namespace of the network namespace's.
	other := exec.Command("/bin/sleep", "60")
	other.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 300000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 300000, Size: 65536}},
	}
	if err := other.Start(); err != nil {
		return err
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	otherNs := fmt.Sprintf("/proc/%d/ns/", other.Process.Pid)
	exited = make(chan berth.ExitStatus, 1)
	pid, err = startPodHolder(podHolderSpec{
		netnsPath: otherNs + "net", newPID: true, newIPC: true, newUTS: true, hostname: "holder-joined",
		uidMap: mapping, gidMap: mapping,
	}, func(es berth.ExitStatus) { exited <- es })
	if err != nil {
		return fmt.Errorf("start a holder joining its user namespace: %w", err)
	}
	for _, ns := range []string{"user", "net"} {
		if !sameFile(otherNs+ns, fmt.Sprintf("/proc/%d/ns/%s", pid, ns)) {
			_ = unix.Kill(pid, unix.SIGKILL)
			return fmt.Errorf("joined: the holder's %s namespace is not the network namespace's", ns)
		}
	}
	if err := checkOwned(pid, "uts", "ipc", "pid"); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return fmt.Errorf("joined: %w", err)
	}
	if err := killHolder(pid, exited); err != nil {
		return err
	}
	fmt.Println("joined: the network namespace's user namespace, owning the new ones: ok")

	// Mappings the kernel refuses (an empty range).
	before := childrenOf(os.Getpid())
	_, err = startPodHolder(podHolderSpec{newIPC: true, newUTS: true,
		uidMap: []idMapping{{containerID: 0, hostID: 200000, size: 0}}, gidMap: mapping}, func(berth.ExitStatus) {})
	if err == nil || !strings.Contains(err.Error(), "uid_map") {
		return fmt.Errorf("refused mappings: got %v, want an error naming uid_map", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for childrenOf(os.Getpid()) != before {
		if time.Now().After(deadline) {
			return fmt.Errorf("refused mappings: %d children left, %d before", childrenOf(os.Getpid()), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("refused mappings: %v; nothing left: ok\n", err)
	return nil
}

// checkMadeUserns checks a holder that made its user namespace.
func checkMadeUserns(pid int) error {
	uidMap, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	if err != nil {
		return err
	}
	if f := strings.Fields(string(uidMap)); strings.Join(f, " ") != "0 200000 65536" {
		return fmt.Errorf("made: uid_map %q", uidMap)
	}
	if sameFile("/proc/self/ns/user", fmt.Sprintf("/proc/%d/ns/user", pid)) {
		return errors.New("made: the holder is in this process's user namespace")
	}
	if err := checkOwned(pid, "uts", "ipc", "pid"); err != nil {
		return fmt.Errorf("made: %w", err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err
	}
	if !strings.Contains(string(status), fmt.Sprintf("NSpid:\t%d\t1\n", pid)) {
		return fmt.Errorf("made: the holder is not its pid namespace's init:\n%s", status)
	}
	if got, err := inNamespace(pid, "uts", unix.CLONE_NEWUTS, "/proc/sys/kernel/hostname"); err != nil || got != "holder-userns" {
		return fmt.Errorf("made: hostname %q, %v", got, err)
	}
	if got, err := inNamespace(pid, "ipc", unix.CLONE_NEWIPC, "/proc/sys/kernel/shm_rmid_forced"); err != nil || got != "1" {
		return fmt.Errorf("made: kernel.shm_rmid_forced %q, %v", got, err)
	}
	return nil
}

// checkOwned checks that pid's namespaces of these kinds are owned by its
// user namespace.
func checkOwned(pid int, kinds ...string) error {
	for _, kind := range kinds {
		path := fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
		if kind == "pid" {
			path += "_for_children"
			if _, err := os.Stat(path); err != nil || sameFile(path, "/proc/self/ns/pid") {
				path = fmt.Sprintf("/proc/%d/ns/pid", pid)
			}
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		owner, err := ownerUserns(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("owner of %s: %w", path, err)
		}
		if owner == nil {
			return fmt.Errorf("%s is owned by this process's user namespace", path)
		}
		ownerInfo, err := owner.Stat()
		owner.Close()
		if err != nil {
			return err
		}
		holderNs, err := os.Stat(fmt.Sprintf("/proc/%d/ns/user", pid))
		if err != nil {
			return err
		}
		if !os.SameFile(ownerInfo, holderNs) {
			return fmt.Errorf("%s is not owned by the holder's user namespace", path)
		}
	}
	return nil
}

// inNamespace reads file from a thread joined to pid's namespace of that
// kind; the thread is not given back to Go's scheduler.
func inNamespace(pid int, kind string, flag int, file string) (string, error) {
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), flag); err != nil {
			ch <- result{err: err}
			return
		}
		b, err := os.ReadFile(file)
		ch <- result{strings.TrimSpace(string(b)), err}
	}()
	r := <-ch
	return r.s, r.err
}

func sameFile(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// killHolder kills a holder and waits for its exit through the reaper.
func killHolder(pid int, exited <-chan berth.ExitStatus) error {
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		return err
	}
	select {
	case es := <-exited:
		if es.Signal != unix.SIGKILL {
			return fmt.Errorf("holder %d exited %+v, want SIGKILL", pid, es)
		}
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("holder %d: no exit", pid)
	}
}

// childrenOf counts pid's children (all its threads').
func childrenOf(pid int) int {
	n := 0
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		n += len(strings.Fields(string(b)))
	}
	return n
}
