# The pod holder's program (holderCode in holder_image.go): the
# code of a static x86-64 ELF that names itself berth-pod and waits for
# ever. SIGCHLD is ignored when it starts (the clone set it, and it stays
# across the exec), so as a pid namespace's init it has the kernel reap
# what the pod's processes leave. The Go side writes the ELF header and
# one program header in front of these bytes; TestHolderProgramSource
# assembles this file and requires the bytes to be holderCode's.
	.intel_syntax noprefix
	.text
	.globl _start
_start:
	mov	edi, 15			# PR_SET_NAME
	lea	rsi, [rip + name]	# the name, after the code
	mov	eax, 157		# prctl(PR_SET_NAME, name)
	syscall
wait:
	mov	eax, 34			# pause()
	syscall
	jmp	wait			# woken by a signal it survived: wait again
name:
	.asciz	"berth-pod"
