;; Adversarial: `call` loops forever. Must end with OutOfGas (gas is charged per basic
;; block, so the loop back-edge is metered).
(module
  (memory (export "memory") 1)
  (func (export "deploy"))
  (func (export "call")
    (loop $forever
      (br $forever))))
