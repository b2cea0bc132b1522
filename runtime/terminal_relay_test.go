package runtime

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// sendTerminal sends a new pty's master over pair, as a container's init
// does, and returns the slave side.
func sendTerminal(t *testing.T, pair *ConsolePair) *os.File {
	t.Helper()
	master, slavePath, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(int(pair.Remote.Fd()), []byte(slavePath), rights, nil, 0); err != nil {
		t.Fatal(err)
	}
	return slave
}

func TestTerminalRelay(t *testing.T) {
	tests := []struct {
		name       string
		clearONLCR bool
		want       string
	}{
		{"foreground run clears ONLCR", true, "a\nb\n"},
		{"shim keeps ONLCR", false, "a\r\nb\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pair, err := NewConsolePair()
			if err != nil {
				t.Fatal(err)
			}
			defer pair.Close()
			slave := sendTerminal(t, pair)
			relay, err := ReceiveTerminal(pair, tc.clearONLCR)
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			if err := relay.Resize(console.WinSize{Width: 91, Height: 17}); err != nil {
				t.Fatal(err)
			}
			ws, err := unix.IoctlGetWinsize(int(slave.Fd()), unix.TIOCGWINSZ)
			if err != nil || ws.Col != 91 || ws.Row != 17 {
				t.Fatalf("window size %+v, %v; want 91x17", ws, err)
			}
			var out bytes.Buffer
			relay.Start(bytes.NewReader([]byte("in\n")), &out)
			line := make([]byte, 16)
			n, err := slave.Read(line)
			if err != nil || string(line[:n]) != "in\n" {
				t.Fatalf("the slave read %q, %v; want the relayed input", line[:n], err)
			}
			// Raw output only: no echo of the input.
			if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, rawNoEcho(t, slave)); err != nil {
				t.Fatal(err)
			}
			if _, err := slave.Write([]byte("a\nb\n")); err != nil {
				t.Fatal(err)
			}
			if relay.WaitOutput(100 * time.Millisecond) {
				t.Fatal("the output copy ended while the slave is open")
			}
			slave.Close()
			if !relay.WaitOutput(5 * time.Second) {
				t.Fatal("the output copy did not end once the slave was closed")
			}
			if got := out.String(); !bytes.HasSuffix([]byte(got), []byte(tc.want)) {
				t.Fatalf("relayed %q, want it to end in %q", got, tc.want)
			}
		})
	}
}

func rawNoEcho(t *testing.T, f *os.File) *unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag &^= unix.ECHO
	return tio
}
