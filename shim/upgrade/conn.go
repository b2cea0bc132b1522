package upgrade

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/berth-oci/berth/shim/internal/handover"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"
)

// The ttrpc wire format, as the handover reads it: each message is a
// 10-byte header (payload length, stream id, type, flags; big-endian)
// and its payload.
const (
	ttrpcHeaderLen       = 10
	ttrpcTypeRequest     = 1
	ttrpcTypeResponse    = 2
	ttrpcMaxMessageBytes = 4 << 20
)

// handoverConn is a connection from containerd, as the daemon serves it
// when it can hand its connections to a new image of itself (upgrade.go).
// It gives the ttrpc server whole messages only, and keeps every request
// it gave until its response is written, so that at any message boundary
// the connection can be frozen and handed over: the requests the old image
// read and did not answer (only Waits, by then) are read again by the new
// one, and what the old one read past the boundary goes with them.
//
// Its lock guards everything below it; reads and writes of the socket run
// without it.
type handoverConn struct {
	net.Conn
	raw *net.UnixConn
	// onClose is the listener's: forget this connection.
	onClose func(*handoverConn)

	mu   sync.Mutex
	cond *sync.Cond
	// queued are whole messages to give before reading the socket: the
	// requests a previous image handed over. pending is the rest of the
	// message being given. carry is what was read of the next message.
	queued  [][]byte
	pending []byte
	carry   []byte
	// unanswered are the requests given and not answered, by stream id.
	unanswered map[uint32][]byte
	// reading: a socket read is under way. frozen: no more messages are
	// given (the reader waits), until thaw.
	reading, frozen bool
	// The write side: out parses what is written, to tell message
	// boundaries and answered requests; writing: a socket write is under
	// way; writeFrozen: no write starts at a boundary.
	out                  frameParser
	writing, writeFrozen bool
	closed               bool
}

func newHandoverConn(c *net.UnixConn, queued [][]byte, carry []byte, onClose func(*handoverConn)) *handoverConn {
	h := &handoverConn{Conn: c, raw: c, onClose: onClose, queued: queued, carry: carry, unanswered: map[uint32][]byte{}}
	h.cond = sync.NewCond(&h.mu)
	return h
}

// Read gives the ttrpc server the next part of a whole message.
func (h *handoverConn) Read(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.pending) == 0 {
		if h.frozen {
			h.cond.Wait()
			continue
		}
		if len(h.queued) > 0 {
			h.give(h.queued[0])
			h.queued = h.queued[1:]
			break
		}
		h.reading = true
		start := h.carry
		h.carry = nil
		h.mu.Unlock()
		msg, err := readMessage(h.raw, start)
		h.mu.Lock()
		h.reading = false
		h.cond.Broadcast()
		if err != nil {
			if h.frozen && handover.IsTimeout(err) {
				h.carry = msg // a part of a message, read before the freeze
				continue
			}
			return 0, err
		}
		if h.frozen {
			h.carry = msg // read past the boundary: the next image's
			continue
		}
		h.give(msg)
	}
	n := copy(p, h.pending)
	h.pending = h.pending[n:]
	if len(h.pending) == 0 {
		h.cond.Broadcast()
	}
	return n, nil
}

// give makes msg the message being given; a request is kept until it is
// answered. The caller holds h.mu.
func (h *handoverConn) give(msg []byte) {
	if msg[8] == ttrpcTypeRequest {
		h.unanswered[binary.BigEndian.Uint32(msg[4:8])] = msg
	}
	h.pending = msg
}

// readMessage reads the rest of one message from r, start being what was
// read of it already. On error it returns what it read.
func readMessage(r io.Reader, start []byte) ([]byte, error) {
	msg := start
	if n := ttrpcHeaderLen - len(msg); n > 0 {
		buf := make([]byte, ttrpcHeaderLen)
		copy(buf, msg)
		got, err := io.ReadFull(r, buf[len(msg):])
		msg = buf[:len(msg)+got]
		if err != nil {
			return msg, err
		}
	}
	length := binary.BigEndian.Uint32(msg[:4])
	if length > ttrpcMaxMessageBytes {
		return msg, fmt.Errorf("ttrpc message of %d bytes: over the limit", length)
	}
	whole := ttrpcHeaderLen + int(length)
	if len(msg) < whole {
		buf := make([]byte, whole)
		copy(buf, msg)
		got, err := io.ReadFull(r, buf[len(msg):])
		msg = buf[:len(msg)+got]
		if err != nil {
			return msg, err
		}
	}
	return msg, nil
}

// Write writes for the ttrpc server, never starting after a write freeze
// at a message boundary: such a write waits for the process to go.
func (h *handoverConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	for h.writeFrozen && h.out.atBoundary() || h.writing {
		h.cond.Wait()
	}
	h.writing = true
	h.mu.Unlock()
	n, err := h.raw.Write(p)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writing = false
	for _, done := range h.out.feed(p[:n]) {
		if done.typ == ttrpcTypeResponse {
			delete(h.unanswered, done.stream)
		}
	}
	h.cond.Broadcast()
	return n, err
}

// errConnGone: the connection was closed while the handover froze it
// (its client went); it is left out of the handover.
var errConnGone = errors.New("the connection was closed")

// Close closes the connection (the client went, or the server shut down).
func (h *handoverConn) Close() error {
	h.mu.Lock()
	h.closed = true
	h.cond.Broadcast()
	h.mu.Unlock()
	if h.onClose != nil {
		h.onClose(h)
	}
	return h.raw.Close()
}

// freeze stops giving messages: once it returns, the server has every
// message it was given whole, and nothing more comes until thaw.
func (h *handoverConn) freeze() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.frozen = true
	_ = h.raw.SetReadDeadline(time.Unix(1, 0)) // ends a read under way
	for !h.closed && (h.reading || len(h.pending) > 0) {
		h.cond.Wait()
	}
}

// thaw undoes freeze and freezeWrites: the upgrade was given up.
func (h *handoverConn) thaw() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.frozen, h.writeFrozen = false, false
	_ = h.raw.SetReadDeadline(time.Time{})
	h.cond.Broadcast()
}

// unansweredMethods are the methods of the requests given and not
// answered, "service/method" each.
func (h *handoverConn) unansweredMethods() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil // no reply can reach the client
	}
	var out []string
	for _, msg := range h.unanswered {
		out = append(out, requestMethod(msg))
	}
	return out
}

// requestMethod is a request message's "service/method", or "?" if it
// cannot be decoded.
func requestMethod(msg []byte) string {
	var req ttrpc.Request
	if err := proto.Unmarshal(msg[ttrpcHeaderLen:], &req); err != nil {
		return "?"
	}
	return req.Service + "/" + req.Method
}

// connHandover is what a frozen connection hands to the next image: its
// socket, the requests to read again in stream order, and what was read
// of the messages after them.
type connHandover struct {
	file    *os.File
	requeue [][]byte
	carry   []byte
}

// freezeWrites stops writes at the next message boundary and returns the
// connection's handover. Call it after freeze, once only re-readable
// requests are unanswered. It returns errConnGone for a connection
// closed meanwhile.
func (h *handoverConn) freezeWrites() (connHandover, error) {
	h.mu.Lock()
	h.writeFrozen = true
	for !h.closed && (h.writing || !h.out.atBoundary()) {
		h.cond.Wait()
	}
	if h.closed {
		h.mu.Unlock()
		return connHandover{}, errConnGone
	}
	streams := make([]uint32, 0, len(h.unanswered))
	for id := range h.unanswered {
		streams = append(streams, id)
	}
	slices.Sort(streams)
	ho := connHandover{carry: slices.Clone(h.carry)}
	// Requests handed over before and not yet given come first still.
	ho.requeue = append(ho.requeue, h.queued...)
	for _, id := range streams {
		ho.requeue = append(ho.requeue, h.unanswered[id])
	}
	h.mu.Unlock()
	f, err := dupSocket(h.raw, "connection's socket")
	if err != nil {
		h.mu.Lock()
		gone := h.closed
		h.mu.Unlock()
		if gone || errors.Is(err, net.ErrClosed) {
			return connHandover{}, errConnGone
		}
		return connHandover{}, err
	}
	ho.file = f
	return ho, nil
}

// frameParser follows a stream of ttrpc messages as it is written.
type frameParser struct {
	header [ttrpcHeaderLen]byte
	got    int // bytes of the current message's header seen
	left   int // bytes of its payload still to come
}

// writtenMessage is a message whose last byte has been written.
type writtenMessage struct {
	stream uint32
	typ    byte
}

func (f *frameParser) atBoundary() bool { return f.got == 0 && f.left == 0 }

// feed takes the next bytes written and returns the messages they end.
func (f *frameParser) feed(p []byte) []writtenMessage {
	var done []writtenMessage
	for len(p) > 0 {
		if f.got < ttrpcHeaderLen {
			n := copy(f.header[f.got:], p)
			f.got += n
			p = p[n:]
			if f.got < ttrpcHeaderLen {
				break
			}
			f.left = int(binary.BigEndian.Uint32(f.header[:4]))
		}
		n := min(f.left, len(p))
		f.left -= n
		p = p[n:]
		if f.left == 0 {
			done = append(done, writtenMessage{stream: binary.BigEndian.Uint32(f.header[4:8]), typ: f.header[8]})
			f.got = 0
		}
	}
	return done
}
