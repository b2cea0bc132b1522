package sandbox

import (
	"encoding/binary"
	"fmt"
	"os"
	goruntime "runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// holderCode is the code of the pod holder's program, assembled from
// testdata/holder_program.S (TestHolderProgramSource checks the bytes).
var holderCode = []byte{
	0xbf, 0x0f, 0x00, 0x00, 0x00, // mov edi, 15 (PR_SET_NAME)
	0x48, 0x8d, 0x35, 0x10, 0x00, 0x00, 0x00, // lea rsi, [rip+16] (the name)
	0xb8, 0x9d, 0x00, 0x00, 0x00, // mov eax, 157 (prctl)
	0x0f, 0x05, // syscall
	0xb8, 0x22, 0x00, 0x00, 0x00, // wait: mov eax, 34 (pause)
	0x0f, 0x05, // syscall
	0xeb, 0xf7, // jmp wait
	'b', 'e', 'r', 't', 'h', '-', 'p', 'o', 'd', 0,
}

// The pod holder's program. A holder cloned from the daemon would keep a
// copy of every page of the daemon's Go heap that the daemon touches after
// the clone: megabytes a pod, more than a pause container. So, once set
// up, the holder executes this program instead, from a sealed memfd: a
// static x86-64 ELF of 158 bytes, holderCode behind an ELF header and one
// program header, that names itself berth-pod (prctl) and waits in pause()
// for ever. Elsewhere than amd64 the holder stays the clone.
func holderProgram() []byte {
	const base = 0x400000
	const headers = 64 + 56
	code := holderCode
	size := uint64(headers + len(code))
	b := make([]byte, headers, size)
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0}) // 64-bit, little-endian, version 1
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)            // e_type: EXEC
	le.PutUint16(b[18:], 0x3e)         // e_machine: x86-64
	le.PutUint32(b[20:], 1)            // e_version
	le.PutUint64(b[24:], base+headers) // e_entry
	le.PutUint64(b[32:], 64)           // e_phoff
	le.PutUint16(b[52:], 64)           // e_ehsize
	le.PutUint16(b[54:], 56)           // e_phentsize
	le.PutUint16(b[56:], 1)            // e_phnum
	ph := b[64:]
	le.PutUint32(ph[0:], 1)       // p_type: LOAD
	le.PutUint32(ph[4:], 5)       // p_flags: R+X
	le.PutUint64(ph[16:], base)   // p_vaddr
	le.PutUint64(ph[24:], base)   // p_paddr
	le.PutUint64(ph[32:], size)   // p_filesz
	le.PutUint64(ph[40:], size)   // p_memsz
	le.PutUint64(ph[48:], 0x1000) // p_align
	return append(b, code...)
}

var holderImage struct {
	once sync.Once
	file *os.File // kept for the daemon's life: the clones exec it by fd
	fd   int      // -1: none (not amd64, or the memfd failed)
	err  error
}

// holderImageFd is a sealed memfd holding holderProgram, made once per
// daemon; -1 where the holder stays the clone.
func holderImageFd() int {
	holderImage.once.Do(func() {
		holderImage.fd = -1
		if goruntime.GOARCH != "amd64" {
			return
		}
		fd, err := unix.MemfdCreate("berth-pod", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			holderImage.err = err
			return
		}
		f := os.NewFile(uintptr(fd), "berth-pod")
		if _, err := f.Write(holderProgram()); err != nil {
			f.Close()
			holderImage.err = err
			return
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
			f.Close()
			holderImage.err = fmt.Errorf("seal the pod holder's image: %w", err)
			return
		}
		holderImage.file, holderImage.fd = f, fd
	})
	return holderImage.fd
}
