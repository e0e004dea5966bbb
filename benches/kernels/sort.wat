;; Quicksort (recursive, Hoare partition, middle pivot) of n pseudo-random i32s:
;; x(0) = 12345, x(i+1) = x(i) * 1103515245 + 12345 (mod 2^32), a[i] = x(i+1) >> 1 (unsigned).
;; run(n) returns sum over i of a[i] * (i mod 1000 + 1) after sorting ascending, or -1 if
;; the array is not sorted. Exercises calls, data-dependent branches, loads and stores.
;;
;; Memory (grown to fit): a[0..n] at 0.
(module
  (memory (export "memory") 1)
  (func $qs (param $lo i32) (param $hi i32)
    (local $i i32) (local $j i32) (local $p i32) (local $t i32)
    local.get $lo local.get $hi i32.ge_s br_if 0
    local.get $lo local.get $hi i32.add i32.const 1 i32.shr_u i32.const 2 i32.shl i32.load local.set $p
    local.get $lo i32.const 1 i32.sub local.set $i
    local.get $hi i32.const 1 i32.add local.set $j
    block $done loop $part
      loop $up
        local.get $i i32.const 1 i32.add local.tee $i
        i32.const 2 i32.shl i32.load local.get $p i32.lt_s br_if $up
      end
      loop $down
        local.get $j i32.const 1 i32.sub local.tee $j
        i32.const 2 i32.shl i32.load local.get $p i32.gt_s br_if $down
      end
      local.get $i local.get $j i32.ge_s br_if $done
      local.get $i i32.const 2 i32.shl i32.load local.set $t
      local.get $i i32.const 2 i32.shl local.get $j i32.const 2 i32.shl i32.load i32.store
      local.get $j i32.const 2 i32.shl local.get $t i32.store
      br $part
    end end
    local.get $lo local.get $j call $qs
    local.get $j i32.const 1 i32.add local.get $hi call $qs)

  (func (export "run") (param $n64 i64) (result i64)
    (local $n i32) (local $i i32) (local $x i32) (local $sum i64)
    local.get $n64 i32.wrap_i64 local.set $n
    local.get $n i32.const 2 i32.shl i32.const 65535 i32.add i32.const 16 i32.shr_u
    memory.size i32.sub local.tee $i
    i32.const 0 i32.gt_s
    if local.get $i memory.grow i32.const -1 i32.eq if unreachable end end
    i32.const 12345 local.set $x
    i32.const 0 local.set $i
    block $e loop $l
      local.get $i local.get $n i32.ge_u br_if $e
      local.get $x i32.const 1103515245 i32.mul i32.const 12345 i32.add local.set $x
      local.get $i i32.const 2 i32.shl local.get $x i32.const 1 i32.shr_u i32.store
      local.get $i i32.const 1 i32.add local.set $i
      br $l
    end end
    i32.const 0 local.get $n i32.const 1 i32.sub call $qs
    i32.const 0 local.set $i
    block $e2 loop $l2
      local.get $i local.get $n i32.ge_u br_if $e2
      local.get $i i32.const 0 i32.gt_u
      if
        local.get $i i32.const 2 i32.shl i32.const 4 i32.sub i32.load
        local.get $i i32.const 2 i32.shl i32.load
        i32.gt_s if i64.const -1 return end
      end
      local.get $sum
      local.get $i i32.const 2 i32.shl i32.load i64.extend_i32_u
      local.get $i i32.const 1000 i32.rem_u i32.const 1 i32.add i64.extend_i32_u
      i64.mul i64.add local.set $sum
      local.get $i i32.const 1 i32.add local.set $i
      br $l2
    end end
    local.get $sum))
