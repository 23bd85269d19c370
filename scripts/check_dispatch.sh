#!/usr/bin/env bash
# The matrix products pick their kernels at run time (gemm's `x86-v4` feature, Cargo.toml): AVX-512
# where the processor has it, AVX2/FMA elsewhere. This runs the exact-bit tests (tests/nn_bits.rs,
# tests/pinned.rs) twice: on this processor, and under QEMU's user-mode emulator as a Haswell, an
# x86-64 with AVX2 and FMA but no AVX-512. Both must pass, each against the bits pinned for the
# kernels it has, so the same binary runs, and computes as before, on a processor without AVX-512.
# The element-wise kernels (`wide!`, src/nn/cpu/vector_math.rs) choose AVX-512 or AVX2 the same
# way, with the same bits on either: the emulated run checks their AVX2 path.
# Needs qemu-x86_64 (Debian: apt-get install qemu-user); the CI installs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v qemu-x86_64 >/dev/null; then
  echo "check_dispatch: qemu-x86_64 not found (Debian: apt-get install qemu-user)" >&2
  exit 1
fi
# The test binaries this build made, as cargo names them ("Executable tests/X.rs (PATH)").
built=$(cargo test --test nn_bits --test pinned --no-run 2>&1 | sed -n 's/.*Executable tests\/\([a-z_]*\)\.rs (\(.*\))$/\1 \2/p')
# Each test says which pinned bits it checked ("pinned bits of the Fma kernels").
run() {
  local label=$1 expected=$2; shift 2
  echo "== $label"
  out=$("$@" --nocapture --test-threads 1 2>&1) || { echo "$out"; echo "check_dispatch: FAILED ($label)" >&2; exit 1; }
  echo "$out" | grep -E "^test result|pinned bits|skipped" | sort | uniq -c
  if echo "$out" | grep -q "skipped" || ! echo "$out" | grep -q "pinned bits of the $expected kernels"; then
    echo "check_dispatch: $label did not check the $expected bits" >&2
    exit 1
  fi
}
for name in nn_bits pinned; do
  bin=$(echo "$built" | awk -v n="$name" '$1 == n { print $2 }')
  [ -n "$bin" ] || { echo "check_dispatch: cargo built no test binary named $name" >&2; exit 1; }
  if grep -q avx512f /proc/cpuinfo; then
    run "$name, this processor (AVX-512)" Avx512 "$bin"
  else
    run "$name, this processor (no AVX-512)" Fma "$bin"
  fi
  run "$name, emulated Haswell (AVX2 and FMA, no AVX-512)" Fma qemu-x86_64 -cpu Haswell "$bin"
done
echo "check_dispatch: ok"
