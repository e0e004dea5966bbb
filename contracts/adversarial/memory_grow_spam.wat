;; Adversarial: grows memory one page at a time forever. Growth is charged
;; (memory_grow + memory_grow_per_page per page) and stops at the profile's page limit,
;; after which every memory.grow returns -1 and the loop goes on until OutOfGas.
(module
  (memory (export "memory") 1)
  (func (export "deploy"))
  (func (export "call")
    (loop $again
      (drop (memory.grow (i32.const 1)))
      (br $again))))
