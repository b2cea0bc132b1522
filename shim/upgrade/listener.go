package upgrade

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/berth-oci/berth/shim/internal/handover"
	"golang.org/x/sys/unix"
)

// Listener is the daemon's listener when it can hand over to a
// new image of itself: it tracks the connections it accepted (as
// handoverConns), gives first those a previous image handed over, and can
// stop accepting at once and resume.
type Listener struct {
	raw *net.UnixListener

	mu        sync.Mutex
	cond      *sync.Cond
	inherited []*handoverConn
	conns     map[*handoverConn]struct{}
	accepting bool
	frozen    bool
}

func NewListener(raw *net.UnixListener, inherited []*handoverConn) *Listener {
	l := &Listener{raw: raw, inherited: inherited, conns: map[*handoverConn]struct{}{}}
	l.cond = sync.NewCond(&l.mu)
	for _, c := range inherited {
		c.onClose = l.forget
		l.conns[c] = struct{}{}
	}
	return l
}

// Accept returns the next connection: an inherited one, or a new one.
func (l *Listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if len(l.inherited) > 0 {
			c := l.inherited[0]
			l.inherited = l.inherited[1:]
			return c, nil
		}
		if l.frozen {
			l.cond.Wait()
			continue
		}
		l.accepting = true
		l.mu.Unlock()
		raw, err := l.raw.AcceptUnix()
		l.mu.Lock()
		l.accepting = false
		l.cond.Broadcast()
		if err != nil {
			if l.frozen && handover.IsTimeout(err) {
				continue
			}
			return nil, err
		}
		c := newHandoverConn(raw, nil, nil, l.forget)
		l.conns[c] = struct{}{}
		if l.frozen {
			// Accepted as the freeze came: frozen with the others.
			l.mu.Unlock()
			c.freeze()
			l.mu.Lock()
		}
		return c, nil
	}
}

func (l *Listener) forget(c *handoverConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// Close closes the listening socket.
func (l *Listener) Close() error { return l.raw.Close() }

// Addr is the listening socket's address.
func (l *Listener) Addr() net.Addr { return l.raw.Addr() }

// freeze stops accepting and giving messages on every connection, and
// returns the connections.
func (l *Listener) freeze() []*handoverConn {
	l.mu.Lock()
	l.frozen = true
	_ = l.raw.SetDeadline(time.Unix(1, 0))
	for l.accepting {
		l.cond.Wait()
	}
	conns := make([]*handoverConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.freeze()
	}
	return conns
}

// thaw resumes accepting and serving: the upgrade was given up.
func (l *Listener) thaw(conns []*handoverConn) {
	for _, c := range conns {
		c.thaw()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frozen = false
	_ = l.raw.SetDeadline(time.Time{})
	l.cond.Broadcast()
}

// waitAnswered waits up to timeout until no connection has a request
// given and not answered (its reply wholly written), and reports whether
// none has.
func (l *Listener) waitAnswered(timeout time.Duration) bool {
	return pollUntil(timeout, 2*time.Millisecond, func() bool {
		l.mu.Lock()
		conns := make([]*handoverConn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		for _, c := range conns {
			if len(c.unansweredMethods()) > 0 {
				return false
			}
		}
		return true
	})
}

// file is a duplicate of the listening socket, for the next image.
func (l *Listener) file() (*os.File, error) {
	return dupSocket(l.raw, "listening socket")
}

// dupSocket duplicates a socket's fd as it is, without the blocking mode
// that the net package's File sets on it (the old image serves on if the
// handover is given up).
func dupSocket(c syscall.Conn, what string) (*os.File, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var fd int
	var dupErr error
	if err := rc.Control(func(raw uintptr) {
		fd, dupErr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 3)
	}); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if dupErr != nil {
		return nil, fmt.Errorf("duplicate %s: %w", what, dupErr)
	}
	return os.NewFile(uintptr(fd), what), nil
}

// waitClientsGone waits up to timeout until every connection has been
// closed, and reports whether every one has. The listener should be
// closed already.
func (l *Listener) waitClientsGone(timeout time.Duration) bool {
	return pollUntil(timeout, time.Millisecond, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.conns) == 0
	})
}
