package runtime

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPipeIO: what the process writes reaches the writers by Wait, the
// reader reaches its stdin, one writer for both outputs gets one pipe, and
// a nil stream is left unset.
func TestPipeIO(t *testing.T) {
	var out, errOut bytes.Buffer
	p, err := NewPipeIO(strings.NewReader("in"), &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	// The process's side, as a started process holds it.
	stdin, stdout, stderr := dup(t, p.IO.Stdin), dup(t, p.IO.Stdout), dup(t, p.IO.Stderr)
	buf := make([]byte, 2)
	if _, err := io.ReadFull(stdin, buf); err != nil || string(buf) != "in" {
		t.Fatalf("stdin %q %v", buf, err)
	}
	stdout.WriteString("out")
	stderr.WriteString("err")
	stdout.Close()
	stderr.Close()
	stdin.Close()
	if err := p.Wait(); err != nil || out.String() != "out" || errOut.String() != "err" {
		t.Fatalf("out %q, err %q, %v", out.String(), errOut.String(), err)
	}

	var both bytes.Buffer
	q, err := NewPipeIO(nil, &both, &both)
	if err != nil {
		t.Fatal(err)
	}
	if q.IO.Stdin != nil || q.IO.Stdout != q.IO.Stderr {
		t.Fatalf("want no stdin and one pipe for both outputs: %+v", q.IO)
	}
	w := dup(t, q.IO.Stdout)
	w.WriteString("a")
	w.Close()
	if err := q.Wait(); err != nil || both.String() != "a" {
		t.Fatalf("both %q %v", both.String(), err)
	}
}

// dup returns a copy of f's descriptor, as a started process holds one.
func dup(t *testing.T, f *os.File) *os.File {
	t.Helper()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fd), f.Name())
}
