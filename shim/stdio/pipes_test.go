package stdio

import (
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStdioThroughPipes: in pipes mode the container's ends are pipes, not
// containerd's FIFOs or log file (CRIU can dump only pipes), and what goes
// through them arrives: the client's stdin reaches the container, which
// sees EOF once CloseIO and the client's writer are gone; its output
// reaches the FIFOs, and a file:// log gets it all.
func TestStdioThroughPipes(t *testing.T) {
	dir := t.TempDir()
	paths := map[string]string{}
	for _, n := range []string{"stdin", "stdout", "stderr"} {
		paths[n] = filepath.Join(dir, n)
		if err := unix.Mkfifo(paths[n], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(Paths{Stdin: paths["stdin"], Stdout: paths["stdout"], Stderr: paths["stderr"]}, Config{ID: "id", Namespace: "ns", Pipes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, f := range map[string]*os.File{"stdin": s.IO().Stdin, "stdout": s.IO().Stdout, "stderr": s.IO().Stderr} {
		var got, fifo unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &got); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(paths[name], &fifo); err != nil {
			t.Fatal(err)
		}
		if got.Ino == fifo.Ino && got.Dev == fifo.Dev {
			t.Errorf("%s: the container is handed the FIFO itself", name)
		}
	}
	// The client: a stdin writer and a stdout reader.
	clientIn, err := os.OpenFile(paths["stdin"], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	clientOut, err := os.OpenFile(paths["stdout"], os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer clientOut.Close()
	ctrIn, ctrOut := s.IO().Stdin, s.IO().Stdout
	// The container keeps its own ends (dups): the shim's go at start.
	in, _ := dupFile(ctrIn)
	out, _ := dupFile(ctrOut)
	s.CloseContainerSide()
	if _, err := clientIn.WriteString("ping\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("container stdin got %q, %v", buf, err)
	}
	if _, err := out.WriteString("pong\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(clientOut, buf); err != nil || string(buf) != "pong\n" {
		t.Fatalf("client stdout got %q, %v", buf, err)
	}
	s.CloseStdin()
	clientIn.Close()
	eof := make(chan error, 1)
	go func() { _, err := in.Read(buf); eof <- err }()
	select {
	case err := <-eof:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("container stdin after CloseIO: %v, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no EOF on the container's stdin after CloseIO and the client's close")
	}
	in.Close()
	out.Close()

	log := filepath.Join(t.TempDir(), "log")
	uri := (&url.URL{Scheme: "file", Path: log}).String()
	ls, err := New(Paths{Stdout: uri, Stderr: uri}, Config{ID: "id", Namespace: "ns", Pipes: true})
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(ls.IO().Stdout.Fd()), &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFREG {
		t.Errorf("file log: the container is handed the file (%v)", err)
	}
	if _, err := ls.IO().Stdout.WriteString("hello\n"); err != nil {
		t.Fatal(err)
	}
	ls.CloseContainerSide()
	ls.Close()
	if data, err := os.ReadFile(log); err != nil || string(data) != "hello\n" {
		t.Fatalf("log %q, %v", data, err)
	}
}

// TestStdioThroughPipesChoice: Env's values, and the default: pipes
// where criu is found.
func TestStdioThroughPipesChoice(t *testing.T) {
	found := func(string) (string, error) { return "/usr/sbin/criu", nil }
	missing := func(string) (string, error) { return "", errors.New("not found") }
	tests := []struct {
		v       string
		look    func(string) (string, error)
		want    bool
		wantErr bool
	}{
		{"", found, true, false},
		{"", missing, false, false},
		{ModeDirect, found, false, false},
		{ModePipes, missing, true, false},
		{"copy", found, false, true},
	}
	for _, tc := range tests {
		got, err := ThroughPipes(tc.v, tc.look)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%q: %v %v, want %v (error %v)", tc.v, got, err, tc.want, tc.wantErr)
		}
	}
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
