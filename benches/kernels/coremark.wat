;; A CoreMark-like mix (after EEMBC CoreMark's list, matrix, state-machine and CRC parts;
;; not CoreMark itself, and its figures are not CoreMark scores). Each of run(n)'s n
;; iterations (it = 0, 1, ...):
;;  * list: reverses a 64-node linked list, then walks it computing
;;    sum = sum of val * (pos + 1), finding the first pos with val == it mod 256 (-1 if
;;    none), and incrementing every val modulo 256;
;;  * matrix: C = A * B + it for 16x16 matrices of i16 (products summed in i32),
;;    acc = xor over C[i][j] * (i*16 + j + 1);
;;  * state machine: classifies the comma-separated tokens of a constant string as
;;    integers, decimals, scientific numbers or invalid (CoreMark's states), counting the
;;    final state of each token and the state changes;
;;  * CRC-16 (CoreMark's crcu16, polynomial 0xA001) of sum, found, acc and the counts,
;;    chained through every iteration.
;; run(n) returns crc + 65536 * (sum of the iterations' list sums).
;;
;; Initial data: node k (k = 0..63) at 4096 + 8k = {next: node k+1 or 0, val: (37k + 11)
;; mod 256}, head at 4080; A[i][j] = ((16i + j) * 3 mod 17) - 8 at 8192; B[i][j] =
;; ((i + 5j) mod 13) - 6 at 8704; C (i32) at 9216; the string at 12288 (NUL-terminated);
;; state counts (8 x i32) at 12800.
(module
  (memory (export "memory") 1)
  (data (i32.const 12288) "5012,1234,-874,+122,3.14,0.33e-1,-.5e+7,abc,12e,7.0E3,+,-0.001,99x,42,1e9,.\00")

  (func $crcu8 (param $data i32) (param $crc i32) (result i32) (local $i i32) (local $x i32)
    i32.const 8 local.set $i
    loop $bit
      local.get $data local.get $crc i32.xor i32.const 1 i32.and local.set $x
      local.get $data i32.const 1 i32.shr_u local.set $data
      local.get $x
      if (result i32)
        local.get $crc i32.const 0x4002 i32.xor i32.const 1 i32.shr_u i32.const 0x8000 i32.or
      else
        local.get $crc i32.const 1 i32.shr_u i32.const 0x7fff i32.and
      end
      local.set $crc
      local.get $i i32.const 1 i32.sub local.tee $i
      br_if $bit
    end
    local.get $crc)

  (func $crcu16 (param $v i32) (param $crc i32) (result i32)
    local.get $v i32.const 8 i32.shr_u i32.const 255 i32.and
    local.get $v i32.const 255 i32.and local.get $crc call $crcu8
    call $crcu8)

  (func $init (local $k i32) (local $i i32) (local $j i32)
    i32.const 4080 i32.const 4096 i32.store
    i32.const 0 local.set $k
    loop $node
      local.get $k i32.const 3 i32.shl i32.const 4096 i32.add
      local.get $k i32.const 63 i32.lt_u
      if (result i32) local.get $k i32.const 3 i32.shl i32.const 4104 i32.add else i32.const 0 end
      i32.store
      local.get $k i32.const 3 i32.shl i32.const 4096 i32.add
      local.get $k i32.const 37 i32.mul i32.const 11 i32.add i32.const 255 i32.and
      i32.store offset=4
      local.get $k i32.const 1 i32.add local.tee $k
      i32.const 64 i32.lt_u br_if $node
    end
    i32.const 0 local.set $i
    loop $row
      i32.const 0 local.set $j
      loop $col
        local.get $i i32.const 4 i32.shl local.get $j i32.add i32.const 1 i32.shl local.tee $k
        local.get $i i32.const 4 i32.shl local.get $j i32.add i32.const 3 i32.mul i32.const 17 i32.rem_u
        i32.const 8 i32.sub i32.store16 offset=8192
        local.get $k
        local.get $i local.get $j i32.const 5 i32.mul i32.add i32.const 13 i32.rem_u
        i32.const 6 i32.sub i32.store16 offset=8704
        local.get $j i32.const 1 i32.add local.tee $j
        i32.const 16 i32.lt_u br_if $col
      end
      local.get $i i32.const 1 i32.add local.tee $i
      i32.const 16 i32.lt_u br_if $row
    end)

  ;; Returns sum; stores found at 4084.
  (func $list (param $it i32) (result i32)
    (local $prev i32) (local $cur i32) (local $next i32) (local $pos i32) (local $sum i32)
    (local $v i32) (local $found i32)
    i32.const 0 local.set $prev
    i32.const 4080 i32.load local.set $cur
    block $e loop $l
      local.get $cur i32.eqz br_if $e
      local.get $cur i32.load local.set $next
      local.get $cur local.get $prev i32.store
      local.get $cur local.set $prev
      local.get $next local.set $cur
      br $l
    end end
    i32.const 4080 local.get $prev i32.store
    i32.const -1 local.set $found
    local.get $prev local.set $cur
    block $e2 loop $l2
      local.get $cur i32.eqz br_if $e2
      local.get $cur i32.load offset=4 local.set $v
      local.get $sum local.get $v local.get $pos i32.const 1 i32.add i32.mul i32.add local.set $sum
      local.get $found i32.const 0 i32.lt_s
      local.get $v local.get $it i32.const 255 i32.and i32.eq
      i32.and
      if local.get $pos local.set $found end
      local.get $cur local.get $v i32.const 1 i32.add i32.const 255 i32.and i32.store offset=4
      local.get $pos i32.const 1 i32.add local.set $pos
      local.get $cur i32.load local.set $cur
      br $l2
    end end
    i32.const 4084 local.get $found i32.store
    local.get $sum)

  (func $matrix (param $it i32) (result i32)
    (local $i i32) (local $j i32) (local $k i32) (local $s i32) (local $acc i32)
    i32.const 0 local.set $i
    loop $row
      i32.const 0 local.set $j
      loop $col
        i32.const 0 local.set $s
        i32.const 0 local.set $k
        loop $dot
          local.get $s
          local.get $i i32.const 4 i32.shl local.get $k i32.add i32.const 1 i32.shl i32.load16_s offset=8192
          local.get $k i32.const 4 i32.shl local.get $j i32.add i32.const 1 i32.shl i32.load16_s offset=8704
          i32.mul i32.add local.set $s
          local.get $k i32.const 1 i32.add local.tee $k
          i32.const 16 i32.lt_u br_if $dot
        end
        local.get $s local.get $it i32.add local.set $s
        local.get $i i32.const 4 i32.shl local.get $j i32.add i32.const 2 i32.shl local.get $s i32.store offset=9216
        local.get $acc
        local.get $s local.get $i i32.const 4 i32.shl local.get $j i32.add i32.const 1 i32.add i32.mul
        i32.xor local.set $acc
        local.get $j i32.const 1 i32.add local.tee $j
        i32.const 16 i32.lt_u br_if $col
      end
      local.get $i i32.const 1 i32.add local.tee $i
      i32.const 16 i32.lt_u br_if $row
    end
    local.get $acc)

  ;; States: 0 start, 1 sign, 2 int, 3 float, 4 exponent mark, 5 exponent sign,
  ;; 6 scientific, 7 invalid. Returns the number of state changes.
  (func $is_digit (param $c i32) (result i32)
    local.get $c i32.const 48 i32.sub i32.const 10 i32.lt_u)
  (func $states (result i32)
    (local $p i32) (local $c i32) (local $s i32) (local $t i32) (local $changes i32) (local $k i32)
    i32.const 0 local.set $k
    loop $clr
      local.get $k i32.const 0 i32.store offset=12800
      local.get $k i32.const 4 i32.add local.tee $k
      i32.const 32 i32.lt_u br_if $clr
    end
    i32.const 12288 local.set $p
    block $eos loop $char
      local.get $p i32.load8_u local.tee $c
      i32.eqz br_if $eos
      local.get $c i32.const 44 i32.eq
      if
        local.get $s i32.const 2 i32.shl local.get $s i32.const 2 i32.shl i32.load offset=12800
        i32.const 1 i32.add i32.store offset=12800
        i32.const 0 local.set $t
      else
        block $next
          block $invalid block $sci block $expsign block $expmark block $float block $int block $sign block $start
            local.get $s br_table $start $sign $int $float $expmark $expsign $sci $invalid
          end ;; start
            local.get $c call $is_digit if i32.const 2 local.set $t br $next end
            local.get $c i32.const 43 i32.eq local.get $c i32.const 45 i32.eq i32.or
            if i32.const 1 local.set $t br $next end
            local.get $c i32.const 46 i32.eq if i32.const 3 local.set $t br $next end
            i32.const 7 local.set $t br $next
          end ;; sign
            local.get $c call $is_digit if i32.const 2 local.set $t br $next end
            local.get $c i32.const 46 i32.eq if i32.const 3 local.set $t br $next end
            i32.const 7 local.set $t br $next
          end ;; int
            local.get $c call $is_digit if i32.const 2 local.set $t br $next end
            local.get $c i32.const 46 i32.eq if i32.const 3 local.set $t br $next end
            i32.const 7 local.set $t br $next
          end ;; float
            local.get $c call $is_digit if i32.const 3 local.set $t br $next end
            local.get $c i32.const 32 i32.or i32.const 101 i32.eq if i32.const 4 local.set $t br $next end
            i32.const 7 local.set $t br $next
          end ;; exponent mark
            local.get $c i32.const 43 i32.eq local.get $c i32.const 45 i32.eq i32.or
            if i32.const 5 local.set $t br $next end
            local.get $c call $is_digit if i32.const 6 local.set $t br $next end
            i32.const 7 local.set $t br $next
          end ;; exponent sign
            local.get $c call $is_digit if i32.const 6 local.set $t br $next end
            i32.const 7 local.set $t br $next
          end ;; scientific
            local.get $c call $is_digit if i32.const 6 local.set $t br $next end
            i32.const 7 local.set $t br $next
          end ;; invalid
          i32.const 7 local.set $t
        end
        local.get $t local.get $s i32.ne
        if local.get $changes i32.const 1 i32.add local.set $changes end
      end
      local.get $t local.set $s
      local.get $p i32.const 1 i32.add local.set $p
      br $char
    end end
    local.get $s i32.const 2 i32.shl local.get $s i32.const 2 i32.shl i32.load offset=12800
    i32.const 1 i32.add i32.store offset=12800
    local.get $changes)

  (func (export "run") (param $n i64) (result i64)
    (local $it i32) (local $crc i32) (local $sum i32) (local $total i64) (local $k i32)
    call $init
    block $done loop $iter
      local.get $it i64.extend_i32_u local.get $n i64.ge_u br_if $done
      local.get $it call $list local.set $sum
      local.get $total local.get $sum i64.extend_i32_u i64.add local.set $total
      local.get $sum local.get $crc call $crcu16 local.set $crc
      i32.const 4084 i32.load local.get $crc call $crcu16 local.set $crc
      local.get $it call $matrix local.get $crc call $crcu16 local.set $crc
      call $states local.get $crc call $crcu16 local.set $crc
      i32.const 0 local.set $k
      loop $counts
        local.get $k i32.load offset=12800 local.get $crc call $crcu16 local.set $crc
        local.get $k i32.const 4 i32.add local.tee $k
        i32.const 32 i32.lt_u br_if $counts
      end
      local.get $it i32.const 1 i32.add local.set $it
      br $iter
    end end
    local.get $total i64.const 16 i64.shl local.get $crc i64.extend_i32_u i64.add))
