#!/usr/bin/env bash
# Trains the networks that ship under data/pretrained/ again, with the project's own code and
# default settings (`make pretrained`), evaluates them, and replaces the shipped files and
# data/pretrained/SHA256SUMS. The full run folders (raw weights, optimizer state, loss.csv) stay
# in target/pretrained/; only what sampling needs is shipped. Takes over an hour on a 2-core CPU.
#
#   scripts/pretrained.sh                 all five, in order
#   scripts/pretrained.sh mnist-cond      only the named ones (mnist, mnist-cond,
#                                         mnist-classifier, mnist-features, mnist-noisy-classifier)
#
# Each step's command and wall time go to target/pretrained/made.txt, and each run's `ddpm eval`
# report to target/pretrained/eval-NAME.txt: copy them into data/pretrained/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(mnist mnist-cond mnist-classifier mnist-features mnist-noisy-classifier)
for n in "${names[@]}"; do
  case $n in mnist|mnist-cond|mnist-classifier|mnist-features|mnist-noisy-classifier) ;;
    *) echo "unknown network '$n': the shipped ones are mnist, mnist-cond, mnist-classifier, mnist-features, mnist-noisy-classifier" >&2; exit 2 ;;
  esac
done

cargo build --release
ddpm=target/release/ddpm
work=target/pretrained
ship=data/pretrained
mkdir -p "$work"

# Runs a command, then appends it and its wall time to made.txt.
timed() {
  local start=$SECONDS
  echo "+ $*"
  "$@"
  echo "$(git rev-parse --short HEAD) $(date -u +%F): ${*#target/release/}: $((SECONDS - start)) s" >> "$work/made.txt"
}

# Copies what sampling needs of target/pretrained/NAME into data/pretrained/NAME.
ship_one() {
  local n=$1
  rm -rf "${ship:?}/$n"
  mkdir -p "$ship/$n"
  case $n in
    mnist|mnist-cond) cp "$work/$n/checkpoint.json" "$work/$n/ema.safetensors" "$ship/$n/" ;;
    mnist-classifier|mnist-features) cp "$work/$n/checkpoint.json" "$work/$n/weights.safetensors" "$ship/$n/" ;;
    mnist-noisy-classifier) cp "$work/$n/noisy_classifier.json" "$work/$n/noisy_classifier.safetensors" "$ship/$n/" ;;
  esac
}

for n in "${names[@]}"; do
  rm -rf "${work:?}/$n"
  case $n in
    mnist) timed "$ddpm" train --data mnist --out "$work/mnist" ;;
    mnist-cond) timed "$ddpm" train --data mnist --class-conditional --out "$work/mnist-cond" ;;
    # eval trains its classifier into --classifier when that folder holds none.
    mnist-classifier) timed "$ddpm" eval --run "$ship/mnist" --n 100 --classifier "$work/mnist-classifier" ;;
    # ... and its feature network into --features when that folder holds none.
    mnist-features) timed "$ddpm" eval --run "$ship/mnist" --n 100 --features "$work/mnist-features" ;;
    mnist-noisy-classifier)
      timed "$ddpm" noisy-classifier --run "$ship/mnist" --out "$work/mnist-noisy-classifier" ;;
  esac
  ship_one "$n"
done
(cd "$ship" && find . -type f ! -name SHA256SUMS ! -name README.md | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)

# What `ddpm eval` says of each diffusion run retrained, with the shipped judge.
for n in "${names[@]}"; do
  case $n in
    mnist|mnist-cond) timed "$ddpm" eval --run "$ship/$n" | tee "$work/eval-$n.txt" ;;
  esac
done
echo "shipped: $(du -sh "$ship" | cut -f1) in $ship; times in $work/made.txt"
