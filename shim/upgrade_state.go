package shim

import (
	"fmt"
	"io"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	berth "github.com/berth-oci/berth/runtime"
)

// handoverState is what a daemon hands to the next image of itself
// (upgrade.go), as JSON; the fds it names are inherited across the exec.
type handoverState struct {
	Generation int                  `json:"generation"`
	Listener   int                  `json:"listener"`
	Conns      []connState          `json:"conns"`
	Events     [][]byte             `json:"events,omitempty"`
	Pins       map[string]time.Time `json:"pins,omitempty"`
	Tasks      []taskState          `json:"tasks"`
	Sandboxes  []sandboxState       `json:"sandboxes,omitempty"`
}

// sandboxState is a started pod sandbox as handed over: its holder, a
// child of the daemon's main thread, which the exec keeps.
type sandboxState struct {
	ID        string            `json:"id"`
	Bundle    string            `json:"bundle"`
	Netns     string            `json:"netns"`
	Dir       string            `json:"dir"`
	Volatile  string            `json:"volatile"`
	Pid       int               `json:"pid"`
	CreatedAt time.Time         `json:"createdAt"`
	Exit      *berth.ExitStatus `json:"exit,omitempty"`
}

type connState struct {
	Fd      int      `json:"fd"`
	Requeue [][]byte `json:"requeue,omitempty"`
	Carry   []byte   `json:"carry,omitempty"`
}

type taskState struct {
	ID        string            `json:"id"`
	Bundle    string            `json:"bundle"`
	HostPidNS bool              `json:"hostPidNS"`
	Init      processHandover   `json:"init"`
	Execs     []processHandover `json:"execs,omitempty"`
}

// processHandover is a process as handed over.
type processHandover struct {
	ID     string            `json:"id"`
	State  processState      `json:"state"`
	Pid    int               `json:"pid"`
	Exit   *berth.ExitStatus `json:"exit,omitempty"`
	Spec   *specs.Process    `json:"spec,omitempty"`
	Stdin  string            `json:"stdin,omitempty"`
	Stdout string            `json:"stdout,omitempty"`
	Stderr string            `json:"stderr,omitempty"`
	// Terminal: the process has a terminal (its console is in Stdio).
	Terminal bool        `json:"terminal,omitempty"`
	Stdio    *stdioState `json:"stdio,omitempty"`
}

// stdioState is a process's stdio as handed over: the shim's handles,
// by fd, -1 for none.
type stdioState struct {
	Pipes       bool          `json:"pipes"`
	StdinHolder int           `json:"stdinHolder"`
	OutHolders  []int         `json:"outHolders,omitempty"`
	Copies      []copyState   `json:"copies,omitempty"`
	Stdin       *copyState    `json:"stdinCopy,omitempty"`
	Console     *consoleState `json:"console,omitempty"`
}

// consoleState is a terminal's copies as handed over: the master, and
// the stdin and stdout FIFOs' handles (-1 for none or closed).
type consoleState struct {
	Master int `json:"master"`
	Stdin  int `json:"stdin"`
	Stdout int `json:"stdout"`
}

// copyState is a parked pipeCopy: its source and destination, and
// whether the destination is one of the out holders (by index) or the
// copy's own, closed when it ends.
type copyState struct {
	Src       int  `json:"src"`
	Dst       int  `json:"dst"`
	DstHolder int  `json:"dstHolder"`
	CloseDst  bool `json:"closeDst"`
}

// fdSet collects the handles a handover passes: each keeps its fd number
// across the exec, its close-on-exec flag cleared at the last moment.
type fdSet struct {
	files []*os.File
}

// add records f and returns its fd number, read without os.File.Fd (which
// would make the handle blocking, and end its deadlines).
func (s *fdSet) add(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("%s: %w", f.Name(), err)
	}
	fd := -1
	if err := rc.Control(func(raw uintptr) { fd = int(raw) }); err != nil {
		return -1, fmt.Errorf("%s: %w", f.Name(), err)
	}
	s.files = append(s.files, f)
	return fd, nil
}

// inherit clears close-on-exec on every fd (on is false) or sets it
// again (the exec failed).
func (s *fdSet) inherit(on bool) error {
	for _, f := range s.files {
		rc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		var ferr error
		if err := rc.Control(func(raw uintptr) {
			flag := unix.FD_CLOEXEC
			if on {
				flag = 0
			}
			_, ferr = unix.FcntlInt(raw, unix.F_SETFD, flag)
		}); err != nil {
			return err
		}
		if ferr != nil {
			return fmt.Errorf("%s: %w", f.Name(), ferr)
		}
	}
	return nil
}

// errNoHandover says why a task cannot be handed over now.
type errNoHandover struct{ why string }

func (e errNoHandover) Error() string { return "cannot hand over: " + e.why }

// handoverLocked describes the task for the next image, its handles added
// to fds. Its pipe copies must be parked. The caller holds t.mu.
func (t *task) handoverLocked(fds *fdSet) (taskState, error) {
	if t.restore != nil {
		return taskState{}, errNoHandover{fmt.Sprintf("task %s is created from a checkpoint and not started", t.id)}
	}
	ts := taskState{ID: t.id, Bundle: t.bundle, HostPidNS: t.hostPidNS}
	var err error
	if ts.Init, err = t.init.handover(fds); err != nil {
		return taskState{}, err
	}
	for _, p := range t.execs {
		ps, err := p.handover(fds)
		if err != nil {
			return taskState{}, err
		}
		ts.Execs = append(ts.Execs, ps)
	}
	return ts, nil
}

func (p *process) handover(fds *fdSet) (processHandover, error) {
	ps := processHandover{ID: p.id, State: p.state, Pid: p.pid, Exit: p.exit, Spec: p.spec,
		Stdin: p.paths.stdin, Stdout: p.paths.stdout, Stderr: p.paths.stderr, Terminal: p.paths.terminal}
	if p.stdio != nil && !p.finished() {
		st, err := p.stdio.handover(fds)
		if err != nil {
			return processHandover{}, fmt.Errorf("process %s: %w", p.name(), err)
		}
		ps.Stdio = st
	}
	return ps, nil
}

// parkCopies parks the stdio's copies, within timeout in all; it reports
// the first that did not park.
func (s *stdio) parkCopies(deadline time.Time) error {
	if s == nil {
		return nil
	}
	all := s.pipeCopies
	if s.stdinCopy != nil {
		all = append(all[:len(all):len(all)], s.stdinCopy)
	}
	if s.terminal != nil {
		all = append(all[:len(all):len(all)], s.terminal.copies()...)
	}
	for _, c := range all {
		if parked, ended := c.parkCopy(time.Until(deadline)); !parked && !ended {
			return errNoHandover{"a stdio copy is blocked (nobody reads the output)"}
		}
	}
	return nil
}

// resumeCopies undoes parkCopies.
func (s *stdio) resumeCopies() {
	if s == nil {
		return
	}
	for _, c := range s.pipeCopies {
		c.resume()
	}
	if s.stdinCopy != nil {
		s.stdinCopy.resume()
	}
	if s.terminal != nil {
		for _, c := range s.terminal.copies() {
			c.resume()
		}
	}
}

func (s *stdio) handover(fds *fdSet) (*stdioState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &stdioState{Pipes: s.pipes, StdinHolder: -1}
	var err error
	if s.stdinHolder != nil {
		if st.StdinHolder, err = fds.add(s.stdinHolder); err != nil {
			return nil, err
		}
	}
	holders := map[*os.File]int{}
	for i, f := range s.outHolders {
		fd, err := fds.add(f)
		if err != nil {
			return nil, err
		}
		st.OutHolders = append(st.OutHolders, fd)
		holders[f] = i
	}
	copyOf := func(c *pipeCopy) (*copyState, error) {
		if c.hasEnded() {
			return nil, nil
		}
		cs := &copyState{DstHolder: -1, CloseDst: c.closeDst != nil}
		var err error
		if cs.Src, err = fds.add(c.src); err != nil {
			return nil, err
		}
		if i, ok := holders[c.dstFile]; ok {
			cs.DstHolder = i
		} else if cs.Dst, err = fds.add(c.dstFile); err != nil {
			return nil, err
		}
		return cs, nil
	}
	for _, c := range s.pipeCopies {
		cs, err := copyOf(c)
		if err != nil {
			return nil, err
		}
		if cs != nil {
			st.Copies = append(st.Copies, *cs)
		}
	}
	if s.stdinCopy != nil {
		if st.Stdin, err = copyOf(s.stdinCopy); err != nil {
			return nil, err
		}
	}
	if s.terminal != nil {
		if st.Console, err = s.terminal.handover(fds); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// handover describes the console for the next image; its copies must be
// parked.
func (c *consoleCopy) handover(fds *fdSet) (*consoleState, error) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.master == nil {
		return nil, errNoHandover{"a terminal not yet attached"}
	}
	cs := &consoleState{Master: -1, Stdin: -1, Stdout: -1}
	var err error
	if cs.Master, err = fds.add(c.master); err != nil {
		return nil, err
	}
	if c.stdin != nil && (c.in == nil || !c.in.hasEnded()) {
		if cs.Stdin, err = fds.add(c.stdin); err != nil {
			return nil, err
		}
	}
	if c.stdout != nil {
		if cs.Stdout, err = fds.add(c.stdout); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// consoleFromHandover rebuilds a console in the next image, its copies
// running again.
func consoleFromHandover(cs *consoleState) *consoleCopy {
	c := &consoleCopy{master: os.NewFile(uintptr(cs.Master), "terminal master")}
	if cs.Stdin >= 0 {
		c.stdin = os.NewFile(uintptr(cs.Stdin), "terminal stdin")
	}
	if cs.Stdout >= 0 {
		c.stdout = os.NewFile(uintptr(cs.Stdout), "terminal stdout")
	}
	c.start()
	return c
}

// stdioFromHandover rebuilds a process's stdio in the next image, its
// copies running again.
func stdioFromHandover(st *stdioState, owner ioOwner) *stdio {
	s := &stdio{owner: owner, pipes: st.Pipes}
	if st.StdinHolder >= 0 {
		s.stdinHolder = os.NewFile(uintptr(st.StdinHolder), "stdin holder")
	}
	for _, fd := range st.OutHolders {
		s.outHolders = append(s.outHolders, os.NewFile(uintptr(fd), "output holder"))
	}
	run := func(cs copyState, stdin bool) *pipeCopy {
		src := os.NewFile(uintptr(cs.Src), "copy source")
		var dst *os.File
		if cs.DstHolder >= 0 && cs.DstHolder < len(s.outHolders) {
			dst = s.outHolders[cs.DstHolder]
		} else {
			dst = os.NewFile(uintptr(cs.Dst), "copy destination")
		}
		var closeDst io.Closer
		if cs.CloseDst {
			closeDst = dst
		}
		if stdin {
			s.stdinSource = src
			return startPipeCopy(src, dst, dst, closeDst, nil)
		}
		s.copies.Add(1)
		return startPipeCopy(src, dst, dst, closeDst, s.copies.Done)
	}
	for _, cs := range st.Copies {
		s.pipeCopies = append(s.pipeCopies, run(cs, false))
	}
	if st.Stdin != nil {
		s.stdinCopy = run(*st.Stdin, true)
	}
	if st.Console != nil {
		s.terminal = consoleFromHandover(st.Console)
	}
	return s
}
