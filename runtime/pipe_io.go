package runtime

import (
	"errors"
	"io"
	"os"
	"sync"
)

// PipeIO connects a container process's stdio to Go readers and writers
// (a bytes.Buffer, a log, a network stream) through pipes, copied by this
// process. Give IO to Create, Run or Exec, then call Wait once the process
// has been started: it closes this process's copies of the container's
// ends and returns when the output has been copied to the end (once the
// process, and any child that inherited its stdio, have closed it).
//
//	var out bytes.Buffer
//	pio, err := runtime.NewPipeIO(nil, &out, &out)
//	c, err := rt.Run(ctx, id, runtime.CreateOpts{Bundle: b, IO: pio.IO})
//	status, err := c.Wait(ctx)
//	err = pio.Wait() // out holds everything the container wrote
type PipeIO struct {
	// IO is the container's side: pipe ends for the process's stdio.
	IO IO

	containerSide []*os.File
	copies        sync.WaitGroup
	closeOnce     sync.Once
	mu            sync.Mutex
	errs          []error
}

// NewPipeIO makes pipes for each of stdin, stdout and stderr that is not
// nil; a nil one leaves the process's stream unset (/dev/null). When stdout
// and stderr are the same writer, the process gets one pipe for both, so
// their order is kept.
func NewPipeIO(stdin io.Reader, stdout, stderr io.Writer) (_ *PipeIO, retErr error) {
	p := &PipeIO{}
	defer func() {
		if retErr != nil {
			p.closeContainerSide()
		}
	}()
	if stdin != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		p.IO.Stdin = r
		p.containerSide = append(p.containerSide, r)
		go func() {
			// Not waited for: the process may never read its stdin.
			_, _ = io.Copy(w, stdin)
			w.Close()
		}()
	}
	if stdout != nil && stdout == stderr {
		w, err := p.copyOut(stdout)
		if err != nil {
			return nil, err
		}
		p.IO.Stdout, p.IO.Stderr = w, w
		return p, nil
	}
	for _, s := range []struct {
		dst io.Writer
		end **os.File
	}{{stdout, &p.IO.Stdout}, {stderr, &p.IO.Stderr}} {
		if s.dst == nil {
			continue
		}
		w, err := p.copyOut(s.dst)
		if err != nil {
			return nil, err
		}
		*s.end = w
	}
	return p, nil
}

// copyOut returns the write end of a pipe whose output is copied to dst.
func (p *PipeIO) copyOut(dst io.Writer) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.containerSide = append(p.containerSide, w)
	p.copies.Add(1)
	go func() {
		defer p.copies.Done()
		if _, err := io.Copy(dst, r); err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		}
		r.Close()
	}()
	return w, nil
}

// Wait closes this process's copies of the container's ends (call it after
// the process was started) and waits until the output has been copied;
// it returns the first errors writing it.
func (p *PipeIO) Wait() error {
	p.closeContainerSide()
	p.copies.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

func (p *PipeIO) closeContainerSide() {
	p.closeOnce.Do(func() {
		for _, f := range p.containerSide {
			f.Close()
		}
	})
}
