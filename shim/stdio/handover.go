package stdio

import (
	"io"
	"os"
	"time"

	"github.com/berth-oci/berth/shim/internal/handover"
)

// State is a process's stdio as handed over: the shim's handles,
// by fd, -1 for none.
type State struct {
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

// parkCopies parks the stdio's copies, within timeout in all; it reports
// the first that did not park.
func (s *Stdio) ParkCopies(deadline time.Time) error {
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
			return handover.Refused{Why: "a stdio copy is blocked (nobody reads the output)"}
		}
	}
	return nil
}

// resumeCopies undoes parkCopies.
func (s *Stdio) ResumeCopies() {
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

func (s *Stdio) Handover(fds *handover.FDSet) (*State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &State{Pipes: s.pipes, StdinHolder: -1}
	var err error
	if s.stdinHolder != nil {
		if st.StdinHolder, err = fds.Add(s.stdinHolder); err != nil {
			return nil, err
		}
	}
	holders := map[*os.File]int{}
	for i, f := range s.outHolders {
		fd, err := fds.Add(f)
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
		if cs.Src, err = fds.Add(c.src); err != nil {
			return nil, err
		}
		if i, ok := holders[c.dstFile]; ok {
			cs.DstHolder = i
		} else if cs.Dst, err = fds.Add(c.dstFile); err != nil {
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
func (c *consoleCopy) handover(fds *handover.FDSet) (*consoleState, error) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.master == nil {
		return nil, handover.Refused{Why: "a terminal not yet attached"}
	}
	cs := &consoleState{Master: -1, Stdin: -1, Stdout: -1}
	var err error
	if cs.Master, err = fds.Add(c.master); err != nil {
		return nil, err
	}
	if c.stdin != nil && (c.in == nil || !c.in.hasEnded()) {
		if cs.Stdin, err = fds.Add(c.stdin); err != nil {
			return nil, err
		}
	}
	if c.stdout != nil {
		if cs.Stdout, err = fds.Add(c.stdout); err != nil {
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

// FromHandover rebuilds a process's stdio in the next image, its
// copies running again.
func FromHandover(st *State, owner Owner) *Stdio {
	s := &Stdio{owner: owner, pipes: st.Pipes}
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
