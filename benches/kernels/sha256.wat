;; SHA-256 hash chain: d(0) = the SHA-256 initial hash value (32 bytes, big-endian);
;; d(i+1) = SHA-256(d(i) || d(i)) (a 64-byte message: two compressions, the second over the
;; constant padding block). run(n) returns the first 8 bytes of d(n) as a big-endian i64.
;; Exercises 32-bit rotates, xor/and, loads and stores with constant offsets, and calls.
;;
;; Memory: state words at 0..32, message schedule W[64] at 256..512, K[64] at 512..768,
;; the digest words d at 768..800 (all words native little-endian u32).
(module
  (memory (export "memory") 1)
  (data (i32.const 512) "\98\2f\8a\42\91\44\37\71\cf\fb\c0\b5\a5\db\b5\e9\5b\c2\56\39\f1\11\f1\59\a4\82\3f\92\d5\5e\1c\ab\98\aa\07\d8\01\5b\83\12\be\85\31\24\c3\7d\0c\55\74\5d\be\72\fe\b1\de\80\a7\06\dc\9b\74\f1\9b\c1\c1\69\9b\e4\86\47\be\ef\c6\9d\c1\0f\cc\a1\0c\24\6f\2c\e9\2d\aa\84\74\4a\dc\a9\b0\5c\da\88\f9\76\52\51\3e\98\6d\c6\31\a8\c8\27\03\b0\c7\7f\59\bf\f3\0b\e0\c6\47\91\a7\d5\51\63\ca\06\67\29\29\14\85\0a\b7\27\38\21\1b\2e\fc\6d\2c\4d\13\0d\38\53\54\73\0a\65\bb\0a\6a\76\2e\c9\c2\81\85\2c\72\92\a1\e8\bf\a2\4b\66\1a\a8\70\8b\4b\c2\a3\51\6c\c7\19\e8\92\d1\24\06\99\d6\85\35\0e\f4\70\a0\6a\10\16\c1\a4\19\08\6c\37\1e\4c\77\48\27\b5\bc\b0\34\b3\0c\1c\39\4a\aa\d8\4e\4f\ca\9c\5b\f3\6f\2e\68\ee\82\8f\74\6f\63\a5\78\14\78\c8\84\08\02\c7\8c\fa\ff\be\90\eb\6c\50\a4\f7\a3\f9\be\f2\78\71\c6")
  (data (i32.const 768) "\67\e6\09\6a\85\ae\67\bb\72\f3\6e\3c\3a\f5\4f\a5\7f\52\0e\51\8c\68\05\9b\ab\d9\83\1f\19\cd\e0\5b")

  ;; state := H0
  (func $init
    i32.const 0 i32.const 0x6a09e667 i32.store
    i32.const 0 i32.const 0xbb67ae85 i32.store offset=4
    i32.const 0 i32.const 0x3c6ef372 i32.store offset=8
    i32.const 0 i32.const 0xa54ff53a i32.store offset=12
    i32.const 0 i32.const 0x510e527f i32.store offset=16
    i32.const 0 i32.const 0x9b05688c i32.store offset=20
    i32.const 0 i32.const 0x1f83d9ab i32.store offset=24
    i32.const 0 i32.const 0x5be0cd19 i32.store offset=28)

  ;; One compression of the block in W[0..16] into the state.
  (func $compress
    (local $i i32) (local $x i32) (local $y i32) (local $t1 i32) (local $t2 i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local $e i32) (local $f i32) (local $g i32) (local $h i32)
    ;; message schedule: W[i] = W[i-16] + s0(W[i-15]) + W[i-7] + s1(W[i-2]), i = 16..64
    i32.const 64 local.set $i  ;; byte offset of W[16]
    loop $extend
      local.get $i i32.load offset=196 local.set $x  ;; W[i-15]
      local.get $i i32.load offset=248 local.set $y  ;; W[i-2]
      local.get $i
      local.get $i i32.load offset=192              ;; W[i-16]
      local.get $x i32.const 7 i32.rotr local.get $x i32.const 18 i32.rotr i32.xor
      local.get $x i32.const 3 i32.shr_u i32.xor i32.add
      local.get $i i32.load offset=228 i32.add       ;; W[i-7]
      local.get $y i32.const 17 i32.rotr local.get $y i32.const 19 i32.rotr i32.xor
      local.get $y i32.const 10 i32.shr_u i32.xor i32.add
      i32.store offset=256
      local.get $i i32.const 4 i32.add local.tee $i
      i32.const 256 i32.lt_u br_if $extend
    end
    i32.const 0 i32.load local.set $a
    i32.const 0 i32.load offset=4 local.set $b
    i32.const 0 i32.load offset=8 local.set $c
    i32.const 0 i32.load offset=12 local.set $d
    i32.const 0 i32.load offset=16 local.set $e
    i32.const 0 i32.load offset=20 local.set $f
    i32.const 0 i32.load offset=24 local.set $g
    i32.const 0 i32.load offset=28 local.set $h
    i32.const 0 local.set $i
    loop $round
      ;; t1 = h + S1(e) + ch(e, f, g) + K[i] + W[i]
      local.get $h
      local.get $e i32.const 6 i32.rotr local.get $e i32.const 11 i32.rotr i32.xor
      local.get $e i32.const 25 i32.rotr i32.xor i32.add
      local.get $e local.get $f i32.and local.get $e i32.const -1 i32.xor local.get $g i32.and i32.xor i32.add
      local.get $i i32.load offset=512 i32.add
      local.get $i i32.load offset=256 i32.add
      local.set $t1
      ;; t2 = S0(a) + maj(a, b, c)
      local.get $a i32.const 2 i32.rotr local.get $a i32.const 13 i32.rotr i32.xor
      local.get $a i32.const 22 i32.rotr i32.xor
      local.get $a local.get $b i32.and local.get $a local.get $c i32.and i32.xor
      local.get $b local.get $c i32.and i32.xor i32.add
      local.set $t2
      local.get $g local.set $h
      local.get $f local.set $g
      local.get $e local.set $f
      local.get $d local.get $t1 i32.add local.set $e
      local.get $c local.set $d
      local.get $b local.set $c
      local.get $a local.set $b
      local.get $t1 local.get $t2 i32.add local.set $a
      local.get $i i32.const 4 i32.add local.tee $i
      i32.const 256 i32.lt_u br_if $round
    end
    i32.const 0 i32.const 0 i32.load local.get $a i32.add i32.store
    i32.const 0 i32.const 0 i32.load offset=4 local.get $b i32.add i32.store offset=4
    i32.const 0 i32.const 0 i32.load offset=8 local.get $c i32.add i32.store offset=8
    i32.const 0 i32.const 0 i32.load offset=12 local.get $d i32.add i32.store offset=12
    i32.const 0 i32.const 0 i32.load offset=16 local.get $e i32.add i32.store offset=16
    i32.const 0 i32.const 0 i32.load offset=20 local.get $f i32.add i32.store offset=20
    i32.const 0 i32.const 0 i32.load offset=24 local.get $g i32.add i32.store offset=24
    i32.const 0 i32.const 0 i32.load offset=28 local.get $h i32.add i32.store offset=28)

  (func (export "run") (param $n i64) (result i64) (local $k i32)
    block $done loop $next
      local.get $n i64.eqz br_if $done
      ;; W[0..8] = W[8..16] = d
      i32.const 0 local.set $k
      loop $copy
        local.get $k local.get $k i32.load offset=768 i32.store offset=256
        local.get $k local.get $k i32.load offset=768 i32.store offset=288
        local.get $k i32.const 4 i32.add local.tee $k
        i32.const 32 i32.lt_u br_if $copy
      end
      call $init
      call $compress
      ;; the padding block of a 64-byte message: 0x80, zeros, bit length 512
      i32.const 0 i32.const 0x80000000 i32.store offset=256
      i32.const 4 local.set $k
      loop $zero
        local.get $k i32.const 0 i32.store offset=256
        local.get $k i32.const 4 i32.add local.tee $k
        i32.const 60 i32.lt_u br_if $zero
      end
      i32.const 0 i32.const 512 i32.store offset=316
      call $compress
      ;; d = state
      i32.const 0 local.set $k
      loop $out
        local.get $k local.get $k i32.load i32.store offset=768
        local.get $k i32.const 4 i32.add local.tee $k
        i32.const 32 i32.lt_u br_if $out
      end
      local.get $n i64.const 1 i64.sub local.set $n
      br $next
    end end
    i32.const 768 i64.load32_u i64.const 32 i64.shl
    i32.const 772 i64.load32_u i64.or))
