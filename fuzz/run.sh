#!/usr/bin/env bash
# Run banc's fuzz targets (cargo-fuzz, libFuzzer, AddressSanitizer) and print per target the
# executions, speed, coverage and corpus size.
#
#   fuzz/run.sh smoke [SECONDS]           every target SECONDS (default 40) each: CI's bounded run
#   fuzz/run.sh long [SECONDS] [TARGET..] each target SECONDS (default 1800) — the long campaign
#
# A crash, a slow input (-timeout) or a memory blow-up over 2 GB (-rss_limit_mb) stops the
# target and fails the run; the input is kept in fuzz/artifacts/TARGET/. The timeout is 10 s
# because AddressSanitizer and a busy machine slow banc down several times; an input that
# times out is re-timed with the release build (`banc validate`), where the bound is 2 s.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable toolchain build
# with the sanitizer.
set -uo pipefail
cd "$(dirname "$0")"
mode="${1:-smoke}"
secs="${2:-}"
shift 2 2>/dev/null || shift $#
export RUSTC_BOOTSTRAP=1
export LSAN_OPTIONS="suppressions=$PWD/lsan.supp:print_suppressions=0"
all=(document document_kit cda_header mail xdm xdm_metadata smtp_session ack suite_toml schematron xpath2 valueset)
targets=("${@:-${all[@]}}")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
case "$mode" in
  smoke) secs="${secs:-40}" ;;
  long) secs="${secs:-1800}" ;;
  *) echo "usage: fuzz/run.sh smoke|long [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

dict() {
  case "$1" in
    document|document_kit|cda_header|xdm_metadata|schematron|valueset) echo dict/xml.dict ;;
    mail|ack|xdm) echo dict/mime.dict ;;
    smtp_session) echo dict/smtp.dict ;;
    *) echo "" ;;
  esac
}

cargo fuzz build -O >/dev/null || { echo "fuzz build failed" >&2; exit 1; }
[ -d corpus/document ] || ./seed.sh >/dev/null
mkdir -p runs
failed=0
printf '%-14s %8s %10s %8s %6s %7s %s\n' target seconds execs exec/s cov corpus result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="runs/$t-$(date -u +%Y%m%dT%H%M%S).log"
  d=$(dict "$t")
  start=$(date +%s)
  cargo fuzz run -O "$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=131072 \
    -print_final_stats=1 ${d:+-dict=$d} \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  size=$(ls "corpus/$t" | wc -l)
  if [ $rc -eq 0 ]; then result=ok; else result="FAILED (see $log, artifacts/$t/)"; failed=1; fi
  printf '%-14s %8s %10s %8s %6s %7s %s\n' "$t" "$took" "${execs:-?}" "${speed:-?}" "${cov:-?}" "$size" "$result"
done
exit $failed
