;; A load/store/xor loop over one page of memory: run(n) does n iterations of a store
;; and a load at a rotating address, returns the (zero-extended i32) accumulator.
(module
  (memory (export "memory") 1)
  (func (export "run") (param i64) (result i64) (local i32 i32)
    block loop
      local.get 1 local.get 0 i32.wrap_i64 i32.ge_u br_if 1
      local.get 1 i32.const 4 i32.mul i32.const 4095 i32.and
      local.get 1 local.get 2 i32.xor i32.store
      local.get 2 local.get 1 i32.const 4 i32.mul i32.const 4095 i32.and i32.load i32.add local.set 2
      local.get 1 i32.const 1 i32.add local.set 1
      br 0
    end end
    local.get 2 i64.extend_i32_u))
