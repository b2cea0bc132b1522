package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ConsolePair is a connected pair of unix sockets for taking a container's
// terminal in-process: give Remote as IO.ConsoleSocket, then call Receive.
type ConsolePair struct {
	// Local is the end this process reads the terminal's master from.
	Local *os.File
	// Remote is the end handed to the container's init.
	Remote *os.File
}

// NewConsolePair creates a ConsolePair.
func NewConsolePair() (*ConsolePair, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socketpair: %w", err)
	}
	return &ConsolePair{
		Local:  os.NewFile(uintptr(fds[0]), "console-local"),
		Remote: os.NewFile(uintptr(fds[1]), "console-remote"),
	}, nil
}

// Receive reads the terminal master sent by the container's init.
func (p *ConsolePair) Receive() (*os.File, error) { return ReceiveConsole(p.Local) }

// Close closes both ends.
func (p *ConsolePair) Close() error {
	p.Remote.Close()
	return p.Local.Close()
}

// ReceiveConsole reads one file descriptor sent over a unix socket with
// SCM_RIGHTS, as a container's init sends the master end of its terminal.
// The file is named after the name sent with it.
func ReceiveConsole(socket *os.File) (*os.File, error) {
	conn, err := socket.SyscallConn()
	if err != nil {
		return nil, err
	}
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var rerr error
	err = conn.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), name, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("receive console: expected one control message, got %d", len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive console: expected one fd, got %d", len(fds))
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}
