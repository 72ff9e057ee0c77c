// _ITM_beginTransaction for x86-64: the one libitm entry point that must be
// written in assembly, because it "returns twice" like setjmp.
//
// GCC's code calls it, then runs the path its result selects. A restart must
// come back here with the caller's callee-saved registers and stack pointer
// and return again with new flags. We let sigsetjmp do the saving, from a
// state that is exactly the caller's state after `ret`: the return address
// is popped first (kept by optimist_itm_prepare in the thread's state), so
// sigsetjmp records rsp = the caller's stack pointer after the call, and no
// callee-saved register has been touched yet. optimist_itm_prepare starts
// the first attempt; sigsetjmp returning 0 then returns the attempt's flags
// (itm_thread::first_flags: 0x05, run the instrumented code and save live
// variables, or 0x02 for a block with only uninstrumented code) to the
// return address, which the thread's itm_thread holds first (through the
// initial-exec pointer optimist_itm_state). Every return pushes the return address back and
// returns with `ret`: a `jmp` would leave the CPU's return-stack predictor one
// entry out of step, and every `ret` of the caller's call chain after it would
// be mispredicted. The engine's C restart path (transaction::restart with
// c_restart_point set) siglongjmps to the same point; optimist_itm_restart
// then starts the next attempt and returns the flags and the return address.
// Nothing of this function's own frame is ever needed after the first return
// (INVARIANT frameless-restart).
//
//   prepare(props, return_address, caller_stack) -> the sigjmp_buf, or null when nested (1 when
//     nested and run uninstrumented); after sigsetjmp, the flags are itm_thread::first_flags
//   restart(jumped: 1 restart, 2 user abort) -> {flags, return address}
#if defined(__x86_64__) && defined(__linux__)

asm(R"(
    .text
    .globl _ITM_beginTransaction
    .type _ITM_beginTransaction, @function
_ITM_beginTransaction:
    .cfi_startproc
    popq %rsi                         # the return address; rsp = the caller's after `ret`
    .cfi_def_cfa_offset 0
    pushq %rsi
    .cfi_def_cfa_offset 8
    subq $8, %rsp                     # 16-byte alignment for the call
    .cfi_def_cfa_offset 16
    leaq 16(%rsp), %rdx               # the caller's stack pointer after `ret`
    call optimist_itm_prepare@PLT     # (edi = props, rsi = return address, rdx = that)
    addq $8, %rsp
    .cfi_def_cfa_offset 8
    testq %rax, %rax
    jz 1f
    cmpq $1, %rax                     # (sigjmp_buf*)1: nested, uninstrumented code
    je 3f
    popq %rsi                         # rsp = the caller's stack pointer after `ret`
    .cfi_def_cfa_offset 0
    movq %rax, %rdi
    xorl %esi, %esi
    call __sigsetjmp@PLT              # saves rsp and the caller's callee-saved registers
    testl %eax, %eax
    jnz 2f
    movq optimist_itm_state@gottpoff(%rip), %rcx
    movq %fs:(%rcx), %rcx             # the thread's itm_thread; its first member is
    pushq (%rcx)                      # the return address: back where the call put it
    .cfi_def_cfa_offset 8
    movl 12(%rcx), %eax               # first_flags (0x05: instrumented, save live variables)
    ret                               # (a ret, not a jmp: the return predictor stays in step)
2:  .cfi_def_cfa_offset 0
    movl %eax, %edi                   # the siglongjmp value after a restart
    call optimist_itm_restart@PLT     # -> rax = flags, rdx = return address
    pushq %rdx
    .cfi_def_cfa_offset 8
    ret
1:  .cfi_def_cfa_offset 8
    movl $0x01, %eax                  # nested (flattened): run the instrumented code
    ret
3:  movl $0x02, %eax                  # nested, with only an uninstrumented path
    ret
    .cfi_endproc
    .size _ITM_beginTransaction, .-_ITM_beginTransaction
)");

#endif
