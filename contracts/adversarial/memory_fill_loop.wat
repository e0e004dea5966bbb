;; Adversarial: grows memory to its declared maximum (512 pages = 32 MiB), then fills all
;; of it in a loop. Each fill is in bounds and charged per byte; must end with OutOfGas
;; after gas-proportional work.
(module
  (memory (export "memory") 1 512)
  (func (export "deploy"))
  (func (export "call")
    (drop (memory.grow (i32.const 511)))
    (loop $again
      (memory.fill (i32.const 0) (i32.const 0x5A)
        (i32.mul (memory.size) (i32.const 65536)))
      (br $again))))
