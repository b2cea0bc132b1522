package stdio

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/berth-oci/berth/shim/internal/handover"
	"golang.org/x/sys/unix"
)

// TestPipeCopyHandover: a copy parked under a steady writer hands its
// handles to a new copy (as the next image builds it from the handover)
// and not a byte is lost or doubled; a copy that was not handed over
// resumes instead.
func TestPipeCopyHandover(t *testing.T) {
	for _, handOver := range []bool{true, false} {
		t.Run(fmt.Sprintf("handover=%v", handOver), func(t *testing.T) {
			srcR, srcW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			dstR, dstW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			s := &Stdio{pipes: true, outHolders: []*os.File{dstW}}
			s.copies.Add(1)
			s.pipeCopies = []*pipeCopy{startPipeCopy(srcR, dstW, dstW, nil, s.copies.Done)}
			var want bytes.Buffer
			for i := range 2000 {
				fmt.Fprintf(&want, "line %d\n", i)
			}
			go func() {
				data := want.Bytes()
				for len(data) > 0 {
					n := min(len(data), 100)
					_, _ = srcW.Write(data[:n])
					data = data[n:]
					time.Sleep(100 * time.Microsecond)
				}
				srcW.Close()
			}()
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(dstR)
				got <- b
			}()
			time.Sleep(20 * time.Millisecond)
			if err := s.ParkCopies(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if handOver {
				var fds handover.FDSet
				st, err := s.Handover(&fds)
				if err != nil {
					t.Fatal(err)
				}
				if len(st.Copies) != 1 || st.Copies[0].DstHolder != 0 {
					t.Fatalf("handover: %+v", st)
				}
				// The next image has its own fd table: duplicates stand in
				// for the inherited fds, which this process's poller knows.
				dup := func(fd int) int {
					n, err := unix.Dup(fd)
					if err != nil {
						t.Fatal(err)
					}
					return n
				}
				st.Copies[0].Src = dup(st.Copies[0].Src)
				st.OutHolders[0] = dup(st.OutHolders[0])
				dstW.Close()
				next := FromHandover(st, Owner{})
				next.copies.Wait()
				next.outHolders[0].Close()
			} else {
				s.ResumeCopies()
				s.copies.Wait()
				dstW.Close()
			}
			select {
			case b := <-got:
				if !bytes.Equal(b, want.Bytes()) {
					t.Fatalf("copied %d bytes, want %d (equal prefix: %v)", len(b), want.Len(), bytes.HasPrefix(want.Bytes(), b))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the copy did not end")
			}
		})
	}
}
