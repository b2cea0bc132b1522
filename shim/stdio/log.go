package stdio

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// openLogFile gives the container a file:// log: the file itself, or a
// pipe copied into it.
func (s *Stdio) openLogFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open log %s: %w", path, err)
	}
	if s.owner.isRoot() && !s.pipes {
		s.containerSide = append(s.containerSide, f)
		s.io.Stdout, s.io.Stderr = f, f
		return nil
	}
	// Through a pipe, copied into the file: the log file stays root's, and
	// CRIU can dump a pipe.
	w, err := s.pipeTo(f, f)
	if err != nil {
		f.Close()
		return err
	}
	s.io.Stdout, s.io.Stderr = w, w
	return nil
}

// startLogger runs a binary:// logging driver: it gets the container's
// stdout on fd 3 and stderr on fd 4, and closes fd 5 when ready.
func (s *Stdio) startLogger(u *url.URL, id, namespace string) error {
	var args []string
	for k, vs := range u.Query() {
		args = append(args, k)
		if len(vs) > 0 && vs[0] != "" {
			args = append(args, vs[0])
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	readyR, readyW, err := os.Pipe()
	if err == nil {
		if err = s.owner.chown(outW); err == nil {
			err = s.owner.chown(errW)
		}
		if err != nil {
			readyR.Close()
			readyW.Close()
		}
	}
	if err != nil {
		for _, f := range []*os.File{outR, outW, errR, errW} {
			f.Close()
		}
		return err
	}
	s.containerSide = append(s.containerSide, outW, errW)
	s.io.Stdout, s.io.Stderr = outW, errW
	cmd := exec.Command(u.Path, args...)
	cmd.Env = append(os.Environ(), "CONTAINER_ID="+id, "CONTAINER_NAMESPACE="+namespace)
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	err = cmd.Start()
	outR.Close()
	errR.Close()
	readyW.Close()
	if err != nil {
		readyR.Close()
		return fmt.Errorf("start logging binary %s: %w", u.Path, err)
	}
	// The daemon's reaper collects the logger's exit; nobody waits here.
	_ = cmd.Process.Release()
	defer readyR.Close()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, readyR); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("logging binary %s not ready after 10s", u.Path)
	}
}
