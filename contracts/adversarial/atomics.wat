;; Rejected feature: threads (shared memory and an atomic read-modify-write). Must fail
;; deploy-time validation with a typed error.
(module
  (memory (export "memory") 1 1 shared)
  (func (export "deploy"))
  (func (export "call")
    (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1)))))
