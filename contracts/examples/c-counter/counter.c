/*
 * Counter in C: the same interface as examples/counter, written against the raw host ABI
 * (specs/abi.md) with no libc. Built by contracts/build.sh with clang-14:
 *   clang-14 --target=wasm32 -mcpu=mvp -mmutable-globals -nostdlib -O2 ...
 *
 *   deploy(initial: u64)          call data: 8 bytes, u64 little-endian
 *   increment(by: u64) -> u64     reverts "counter overflow" on overflow
 *   get() -> u64
 * Method names are SCALE strings: a one-byte compact length (len << 2) for names < 64 bytes.
 */
typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

#define IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))

IMPORT(input) int input(u8 *out, u32 cap);
IMPORT(return_value) void return_value(const u8 *data, u32 len);
IMPORT(revert) _Noreturn void revert(const u8 *msg, u32 len);
IMPORT(caller) void caller(u8 *out);
IMPORT(storage_read) int storage_read(const u8 *key, u32 key_len, u8 *out, u32 cap);
IMPORT(storage_write) int storage_write(const u8 *key, u32 key_len, const u8 *val, u32 val_len);
IMPORT(emit_event) void emit_event(const u8 *topics, u32 count, const u8 *data, u32 len);

static const u8 KEY[] = "count";
#define KEY_LEN 5
#define INPUT_CAP 64

static void fail(const char *msg) {
    u32 n = 0;
    while (msg[n]) n++;
    revert((const u8 *)msg, n);
}

static u64 load_u64(const u8 *p) {
    u64 v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void store_u64(u8 *p, u64 v) {
    for (int i = 0; i < 8; i++) { p[i] = (u8)v; v >>= 8; }
}

static u64 get_count(void) {
    u8 buf[8];
    int n = storage_read(KEY, KEY_LEN, buf, 8);
    if (n < 0) return 0;
    if (n != 8) fail("storage: undecodable value");
    return load_u64(buf);
}

static void set_count(u64 v) {
    u8 buf[8];
    store_u64(buf, v);
    storage_write(KEY, KEY_LEN, buf, 8);
}

static void ret_u64(u64 v) {
    u8 buf[8];
    store_u64(buf, v);
    return_value(buf, 8);
}

/* Does the SCALE string at `in` (of `len` bytes) equal `name`? Sets *used to its size. */
static int method_is(const u8 *in, int len, const char *name, int *used) {
    u32 n = 0;
    while (name[n]) n++;
    if (len < 1 || (in[0] & 3) != 0) return 0; /* only one-byte compact lengths */
    if ((u32)(in[0] >> 2) != n || (u32)len < 1 + n) return 0;
    for (u32 i = 0; i < n; i++)
        if (in[1 + i] != (u8)name[i]) return 0;
    *used = 1 + (int)n;
    return 1;
}

EXPORT(deploy) void deploy(void) {
    u8 in[INPUT_CAP];
    int len = input(in, INPUT_CAP);
    if (len != 8) fail("bad call data: argument");
    set_count(load_u64(in));
}

EXPORT(call) void call(void) {
    u8 in[INPUT_CAP];
    int len = input(in, INPUT_CAP);
    int used = 0;
    if (len > INPUT_CAP) fail("bad call data: too long");
    if (method_is(in, len, "increment", &used)) {
        if (len - used != 8) fail("bad call data: argument");
        u64 by = load_u64(in + used);
        u64 count = get_count();
        if (count + by < count) fail("counter overflow");
        count += by;
        set_count(count);
        u8 topics[64] = "Incremented";
        caller(topics + 32);
        u8 data[8];
        store_u64(data, count);
        emit_event(topics, 2, data, 8);
        ret_u64(count);
    } else if (method_is(in, len, "get", &used)) {
        if (len != used) fail("bad call data: trailing bytes");
        ret_u64(get_count());
    } else {
        fail("unknown method");
    }
}
