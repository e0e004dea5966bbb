;; Recursive Fibonacci: run(n) = fib(n) with fib(0) = 0, fib(1) = 1. Exercises calls,
;; returns and the per-call frame setup (and, when metered, the stack accounting).
(module
  (func $fib (param i64) (result i64)
    local.get 0 i64.const 2 i64.lt_u
    if (result i64) local.get 0
    else local.get 0 i64.const 1 i64.sub call $fib local.get 0 i64.const 2 i64.sub call $fib i64.add end)
  (func (export "run") (param i64) (result i64) local.get 0 call $fib))
