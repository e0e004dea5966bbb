;; Dense f64 matrix multiply: C = A * B for n x n matrices, with
;; A[i][j] = ((i*n + j) mod 7) - 3 and B[i][j] = ((i + 2j) mod 5) / 2.
;; run(n) returns trunc(2 * sum over i, j of C[i][j] * ((i + j) mod 3 + 1)), exact in f64.
;; Exercises f64 loads, multiply-add chains, nested loops and memory.grow.
;;
;; Memory (grown to fit): A at 0, B at 8n^2, C at 16n^2, row-major.
(module
  (memory (export "memory") 1)
  (func (export "run") (param $n64 i64) (result i64)
    (local $n i32) (local $i i32) (local $j i32) (local $k i32)
    (local $a i32) (local $b i32) (local $c i32) (local $nn8 i32)
    (local $sum f64) (local $total f64)
    local.get $n64 i32.wrap_i64 local.set $n
    local.get $n local.get $n i32.mul i32.const 8 i32.mul local.set $nn8
    i32.const 0 local.set $a
    local.get $nn8 local.set $b
    local.get $nn8 i32.const 2 i32.mul local.set $c
    ;; grow to 3 * 8n^2 bytes
    local.get $nn8 i32.const 3 i32.mul i32.const 65535 i32.add i32.const 16 i32.shr_u
    memory.size i32.sub local.tee $k
    i32.const 0 i32.gt_s
    if local.get $k memory.grow i32.const -1 i32.eq if unreachable end end
    ;; initialize A and B
    i32.const 0 local.set $i
    block $ei loop $li
      local.get $i local.get $n i32.ge_u br_if $ei
      i32.const 0 local.set $j
      block $ej loop $lj
        local.get $j local.get $n i32.ge_u br_if $ej
        local.get $i local.get $n i32.mul local.get $j i32.add i32.const 3 i32.shl local.tee $k
        local.get $i local.get $n i32.mul local.get $j i32.add i32.const 7 i32.rem_u
        f64.convert_i32_u f64.const 3 f64.sub
        f64.store
        local.get $k local.get $b i32.add
        local.get $i local.get $j i32.const 1 i32.shl i32.add i32.const 5 i32.rem_u
        f64.convert_i32_u f64.const 0.5 f64.mul
        f64.store
        local.get $j i32.const 1 i32.add local.set $j
        br $lj
      end end
      local.get $i i32.const 1 i32.add local.set $i
      br $li
    end end
    ;; C = A * B
    i32.const 0 local.set $i
    block $mi loop $ni
      local.get $i local.get $n i32.ge_u br_if $mi
      i32.const 0 local.set $j
      block $mj loop $nj
        local.get $j local.get $n i32.ge_u br_if $mj
        f64.const 0 local.set $sum
        i32.const 0 local.set $k
        block $mk loop $nk
          local.get $k local.get $n i32.ge_u br_if $mk
          local.get $sum
          local.get $i local.get $n i32.mul local.get $k i32.add i32.const 3 i32.shl f64.load
          local.get $k local.get $n i32.mul local.get $j i32.add i32.const 3 i32.shl local.get $b i32.add f64.load
          f64.mul f64.add local.set $sum
          local.get $k i32.const 1 i32.add local.set $k
          br $nk
        end end
        local.get $i local.get $n i32.mul local.get $j i32.add i32.const 3 i32.shl local.get $c i32.add
        local.get $sum f64.store
        local.get $j i32.const 1 i32.add local.set $j
        br $nj
      end end
      local.get $i i32.const 1 i32.add local.set $i
      br $ni
    end end
    ;; weighted checksum
    f64.const 0 local.set $total
    i32.const 0 local.set $i
    block $ci loop $di
      local.get $i local.get $n i32.ge_u br_if $ci
      i32.const 0 local.set $j
      block $cj loop $dj
        local.get $j local.get $n i32.ge_u br_if $cj
        local.get $total
        local.get $i local.get $n i32.mul local.get $j i32.add i32.const 3 i32.shl local.get $c i32.add f64.load
        local.get $i local.get $j i32.add i32.const 3 i32.rem_u i32.const 1 i32.add f64.convert_i32_u
        f64.mul f64.add local.set $total
        local.get $j i32.const 1 i32.add local.set $j
        br $dj
      end end
      local.get $i i32.const 1 i32.add local.set $i
      br $di
    end end
    local.get $total f64.const 2 f64.mul i64.trunc_f64_s))
