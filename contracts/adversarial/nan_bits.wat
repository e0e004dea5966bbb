;; Adversarial: float results whose NaN bits differ between ISAs without canonicalization.
;; x86-64 and aarch64 propagate NaN payloads and signs differently (0/0 is 0xffc00000 on
;; x86 SSE, 0x7fc00000 on aarch64; with a payload-carrying operand the payload wins on
;; x86, and arm64 quiets/propagates its own way). `call` returns the raw bits, 12 bytes:
;;   f32 bits of (0/0) + NaN(payload 0x200001)     (4 bytes, LE)
;;   f64 bits of sqrt(-1) * NaN(payload 0x5)        (8 bytes, LE)
;; Keel's NaN pass must make both canonical: 0x7fc00000 and 0x7ff8000000000000.
(module
  (import "env" "return_value" (func $return_value (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "deploy"))
  (func (export "call")
    (f32.store (i32.const 0)
      (f32.add
        (f32.div (f32.const 0) (f32.const 0))
        (f32.reinterpret_i32 (i32.const 0x7fa00001))))
    (f64.store (i32.const 4)
      (f64.mul
        (f64.sqrt (f64.const -1))
        (f64.reinterpret_i64 (i64.const 0xfff0000000000005))))
    (call $return_value (i32.const 0) (i32.const 12))))
