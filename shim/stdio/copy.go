package stdio

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/berth-oci/berth/shim/internal/handover"
)

// pipeCopy copies a pipe or FIFO (src) into dst until src ends or dst
// fails, as io.Copy does, but it can park between a write and the next
// read, so that a daemon handing over to its next image (upgrade.go) loses
// no byte in a buffer: the next image copies on from the same handles.
// src must be pollable (a pipe, or a FIFO opened non-blocking), so that a
// read deadline ends a read under way.
type pipeCopy struct {
	src *os.File
	dst io.Writer
	// dstFile is dst's handle, for the handover; closeDst, if set, is
	// closed once the copy ends (a log file of the copy's own, the stdin
	// pipe's write end).
	dstFile  *os.File
	closeDst io.Closer
	done     func()

	mu     sync.Mutex
	cond   *sync.Cond
	park   bool // a park was asked for
	parked bool // the copy waits, between a write and the next read
	ended  bool
}

// startPipeCopy starts copying src into dst; done is called when it ends.
func startPipeCopy(src *os.File, dst io.Writer, dstFile *os.File, closeDst io.Closer, done func()) *pipeCopy {
	c := &pipeCopy{src: src, dst: dst, dstFile: dstFile, closeDst: closeDst, done: done}
	c.cond = sync.NewCond(&c.mu)
	go c.run()
	return c
}

func (c *pipeCopy) run() {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.src.Read(buf)
		if n > 0 {
			if _, werr := c.dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err == nil {
			continue
		}
		if !handover.IsTimeout(err) || !c.waitParked() {
			break
		}
	}
	c.src.Close()
	if c.closeDst != nil {
		c.closeDst.Close()
	}
	c.mu.Lock()
	c.ended = true
	c.cond.Broadcast()
	c.mu.Unlock()
	if c.done != nil {
		c.done()
	}
}

// waitParked parks the copy after a read ended by parkCopy's deadline,
// until resume; it reports false for a deadline nobody asked for.
func (c *pipeCopy) waitParked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.park {
		return false
	}
	c.parked = true
	c.cond.Broadcast()
	for c.park {
		c.cond.Wait()
	}
	c.parked = false
	return true
}

// parkCopy asks the copy to park and waits up to timeout for it to, or to
// end; it reports whether it is parked or ended (ended: nothing to hand
// over).
func (c *pipeCopy) parkCopy(timeout time.Duration) (parked, ended bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.park = true
	_ = c.src.SetReadDeadline(time.Unix(1, 0))
	deadline := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer deadline.Stop()
	start := time.Now()
	for !c.parked && !c.ended && time.Since(start) < timeout {
		c.cond.Wait()
	}
	return c.parked, c.ended
}

// resume undoes parkCopy: the handover was given up.
func (c *pipeCopy) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.src.SetReadDeadline(time.Time{})
	c.park = false
	c.cond.Broadcast()
}

// hasEnded reports whether the copy has ended.
func (c *pipeCopy) hasEnded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}
