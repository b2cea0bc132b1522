package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// The sd_notify relay, as runc does it: a container created with
// CreateOpts.NotifySocket sees the directory <state dir>/notify at
// /run/notify, read-only, and NOTIFY_SOCKET=/run/notify/notify.sock in its
// environment; the caller binds that socket (ListenNotify) before the
// container starts and relays its READY to the host's NOTIFY_SOCKET with
// MAINPID and BARRIER (NotifyRelay.Relay).
const (
	notifyDirName        = "notify"
	notifySocketName     = "notify.sock"
	notifyDirInContainer = "/run/notify"
	// notifyBarrierTimeout is how long Relay waits for the host to
	// acknowledge BARRIER=1, as runc waits.
	notifyBarrierTimeout = 30 * time.Second
)

// ErrNoNotifySocket is returned by ListenNotify for a container created
// without CreateOpts.NotifySocket.
var ErrNoNotifySocket = errors.New("the container was created without a notify socket")

// withNotifySocket returns a copy of s whose container sees dir at
// /run/notify and is told of the socket there.
func withNotifySocket(s *specs.Spec, dir string) *specs.Spec {
	c := *s
	c.Mounts = append(slices.Clone(s.Mounts), specs.Mount{
		Destination: notifyDirInContainer,
		Type:        "bind",
		Source:      dir,
		Options:     []string{"bind", "nosuid", "noexec", "nodev", "ro"},
	})
	if s.Process != nil {
		p := *s.Process
		p.Env = append(slices.Clone(s.Process.Env), "NOTIFY_SOCKET="+notifyDirInContainer+"/"+notifySocketName)
		c.Process = &p
	}
	return &c
}

// NotifyRelay is a container's bound notify socket, whose READY goes to
// the host's NOTIFY_SOCKET.
type NotifyRelay struct {
	sock *net.UnixConn
	host string
}

// ListenNotify binds the notify socket of a container created with
// CreateOpts.NotifySocket, for a relay to host (the caller's
// NOTIFY_SOCKET). Bind it before the container starts, so that no READY
// is lost. It returns ErrNoNotifySocket for a container created without
// one.
func (c *Container) ListenNotify(host string) (*NotifyRelay, error) {
	dir := filepath.Join(c.rt.stateDir(c.ID()), notifyDirName)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, opError("listen on the notify socket of", c.ID(), ErrNoNotifySocket)
	}
	path := filepath.Join(dir, notifySocketName)
	_ = os.Remove(path) // a socket left by an earlier start that failed
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, opError("listen on the notify socket of", c.ID(), err)
	}
	// Any user of the container may notify, as with runc.
	if err := os.Chmod(path, 0o777); err != nil {
		sock.Close()
		return nil, opError("listen on the notify socket of", c.ID(), err)
	}
	return &NotifyRelay{sock: sock, host: host}, nil
}

// Close closes the container's end of the relay.
func (n *NotifyRelay) Close() error { return n.sock.Close() }

// Relay waits for the container's READY=, then sends the host that line,
// MAINPID=mainPid and BARRIER=1, and waits (at most 30 s) for the host to
// close the barrier's pipe. It returns nil without a word to the host when
// the process watchPid has gone first, and ctx's error when ctx ends
// first. Other notifications before READY (STATUS=, say) are not relayed,
// as runc does not relay them.
func (n *NotifyRelay) Relay(ctx context.Context, mainPid, watchPid int) error {
	ready := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := n.sock.Read(buf)
			if err != nil {
				return
			}
			if line, ok := readyLine(buf[:k]); ok {
				ready <- line
				return
			}
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if !processAlive(watchPid) {
				return nil
			}
		case line := <-ready:
			return notifyHost(ctx, n.host, line, mainPid)
		}
	}
}

// readyLine returns the READY= line of one notification datagram.
func readyLine(msg []byte) ([]byte, bool) {
	for _, line := range bytes.Split(msg, []byte{'\n'}) {
		if bytes.HasPrefix(line, []byte("READY=")) {
			return line, true
		}
	}
	return nil, false
}

// processAlive says whether pid still runs: a zombie has gone (a
// detached run's init is the relaying process's child, which it does not
// reap; runc, which looks for /proc/<pid> only, waits for it forever).
func processAlive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if pid <= 0 || err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	state := data[i+2]
	return state != 'Z' && state != 'X'
}

// notifyHost tells the host socket that the service is ready, which pid to
// watch, and waits for its barrier.
func notifyHost(ctx context.Context, host string, ready []byte, mainPid int) error {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: host, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", host, err)
	}
	defer conn.Close()
	msg := append(append([]byte{}, ready...), '\n')
	msg = append(msg, "MAINPID="+strconv.Itoa(mainPid)+"\n"...)
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("NOTIFY_SOCKET %s: %w", host, err)
	}
	return notifyBarrier(ctx, conn)
}

// notifyBarrier sends BARRIER=1 with the write end of a pipe and waits for
// the host to close it: then the host has read what came before.
func notifyBarrier(ctx context.Context, conn *net.UnixConn) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	raw, err := conn.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) {
			err = unix.Sendmsg(int(fd), []byte("BARRIER=1"), unix.UnixRights(int(w.Fd())), nil, 0)
		})
		if cerr != nil {
			err = cerr
		}
	}
	w.Close()
	if err != nil {
		return fmt.Errorf("NOTIFY_SOCKET barrier: %w", err)
	}
	deadline := time.Now().Add(notifyBarrierTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = r.SetReadDeadline(deadline)
	var b [1]byte
	switch k, err := r.Read(b[:]); {
	case err == io.EOF:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		logrus.Warn("NOTIFY_SOCKET: no answer to BARRIER=1 in time; going on")
		return nil
	case err != nil:
		return fmt.Errorf("NOTIFY_SOCKET barrier: %w", err)
	default:
		return fmt.Errorf("NOTIFY_SOCKET barrier: the host wrote %d bytes, want none", k)
	}
}
