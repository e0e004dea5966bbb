;; Adversarial: one memory.fill of 2 GiB (bulk memory). The per-byte charge
;; (bulk_memory + memory_per_byte x 2^31) exceeds any gas limit, so it must trap with
;; OutOfGas before touching memory (not MemoryOutOfBounds after work, not a 2 GiB write).
(module
  (memory (export "memory") 1)
  (func (export "deploy"))
  (func (export "call")
    (memory.fill (i32.const 0) (i32.const 0xAB) (i32.const 0x80000000))))
