;; Rejected feature: SIMD (v128). Must fail deploy-time validation with a typed error.
(module
  (memory (export "memory") 1)
  (func (export "deploy"))
  (func (export "call")
    (v128.store (i32.const 0)
      (i32x4.add
        (v128.const i32x4 1 2 3 4)
        (v128.load (i32.const 16))))))
