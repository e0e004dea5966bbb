;; Adversarial: unbounded recursion. Must end with the deterministic stack-limit trap
;; (never the native stack guard), at the same depth on every machine.
(module
  (memory (export "memory") 1)
  (func (export "deploy"))
  (func $down (param $n i64) (result i64)
    (call $down (i64.add (local.get $n) (i64.const 1))))
  (func (export "call")
    (drop (call $down (i64.const 0)))))
